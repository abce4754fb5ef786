"""Which config each daemon loaded, or why it would not (docs/design/health.md, invariant 9).

The runtime (nvr.core.service) writes one row per daemon: `accepted` with the file's
SHA-256 at start and at every good reload, `rejected` when a reload failed (the daemon
keeps the config it runs on), `refused` when the daemon could not start because of the
file. nvr-health turns rejected/refused rows into a warning naming the file and key,
`nvrctl status` shows them, and `nvrctl config apply` waits for every daemon's row to
know which accepted the file.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from nvr.core.config.salvage import state_file_of
from nvr.core.errors import StateError
from nvr.core.redact import redact_text
from nvr.core.state import StateStore, now_ms

log = logging.getLogger(__name__)


class Outcome(StrEnum):
    """What a daemon made of the config file."""

    ACCEPTED = "accepted"
    REJECTED = "rejected"  # at a reload: the daemon runs on the previous config
    REFUSED = "refused"  # at start: the daemon did not start


@dataclass(frozen=True)
class ConfigLoad:
    """One daemon's latest attempt at loading the config."""

    daemon: str
    outcome: Outcome
    path: str
    sha256: str | None
    error: str | None
    at_ms: int


def file_sha256(path: Path) -> str | None:
    """The file's SHA-256, None when it cannot be read (the load error says why)."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def record_load(
    store: StateStore, daemon: str, path: Path, outcome: Outcome, error: str | None = None
) -> None:
    """Upsert the daemon's row; the error is redacted (a URL may carry a password)."""
    with store.write() as conn:
        conn.execute(
            "INSERT INTO config_loads (daemon, outcome, path, sha256, error, at_ms)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (daemon) DO UPDATE SET"
            " outcome = excluded.outcome, path = excluded.path, sha256 = excluded.sha256,"
            " error = excluded.error, at_ms = excluded.at_ms",
            (
                daemon,
                str(outcome),
                str(path),
                file_sha256(path),
                redact_text(error) if error else None,
                now_ms(),
            ),
        )


def record_refusal(daemon: str, path: Path, error: str) -> None:
    """A daemon that cannot start because of its config says so in the state file.

    The config did not load, so the state file is the one the broken file names (or the
    default). Best effort: when even that cannot be written, the exit message remains.
    """
    state_file = state_file_of(path)
    if not state_file.parent.is_dir():
        return
    try:
        store = StateStore.open(state_file)
    except StateError as err:
        log.warning("could not note the refused config in %s: %s", state_file, err)
        return
    try:
        record_load(store, daemon, path, Outcome.REFUSED, error)
    except StateError as err:
        log.warning("could not note the refused config in %s: %s", state_file, err)
    finally:
        store.close()


def read_config_loads(conn: sqlite3.Connection) -> dict[str, ConfigLoad]:
    """Every daemon's latest load, by daemon."""
    rows = conn.execute(
        "SELECT daemon, outcome, path, sha256, error, at_ms FROM config_loads"
    ).fetchall()
    return {
        row[0]: ConfigLoad(row[0], Outcome(row[1]), row[2], row[3], row[4], row[5]) for row in rows
    }
