"""Failed logins kept in the state file, so a restart does not reset a guesser's budget.

See docs/design/security.md, invariant 1. `nvr.core.logins.LoginThrottle` counts in memory
and writes each failure here (table `login_failures`); at start it reads back the failures
still inside the window. Each service (nvr-livestream, nvr-health) writes and reads its
own rows. Keys are digests of the client address or the user name tried: a user name
field sometimes holds a mistyped password, which has no business in the state file.

Written from the web server's worker threads: a connection of its own per write (sqlite3
connections stay in their thread; a failure already costs ~50 ms of scrypt, the open is
a few ms). A state file that cannot be written leaves the throttle working in memory.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from nvr.core.errors import StateError
from nvr.core.state import StateStore, now_ms

log = logging.getLogger(__name__)

# Rows per service at most: a spray of addresses within one window is cut oldest first
# (the in-memory throttle forgets keys past THROTTLE_MAX_KEYS the same way).
MAX_ROWS = 20_000
KEY_HEX_CHARS = 32


def key_digest(kind: str, value: str) -> str:
    """What names a client address or an account in memory and in the state file."""
    data = f"{kind}\0{value}".encode("utf-8", "replace")
    return hashlib.sha256(data).hexdigest()[:KEY_HEX_CHARS]


@dataclass(frozen=True)
class PastFailure:
    """One failure read back: its key and how many seconds ago it happened."""

    kind: str
    key: str
    age_seconds: float


class FailureJournal:
    """The failed logins of one service in the state file."""

    def __init__(self, state_file: Path, service: str, wall_ms: Callable[[], int] = now_ms) -> None:
        self._path = state_file
        self._service = service
        self._wall_ms = wall_ms
        self._warned = False

    def recent(self, window_seconds: float) -> list[PastFailure]:
        """The failures of the last `window_seconds`, oldest first ([] when unreadable)."""
        now = self._wall_ms()
        try:
            with StateStore.open(self._path) as store:
                rows = (
                    store.read()
                    .execute(
                        "SELECT kind, key, at_ms FROM login_failures"
                        " WHERE service = ? AND at_ms > ? ORDER BY at_ms",
                        (self._service, now - int(window_seconds * 1000)),
                    )
                    .fetchall()
                )
        except (StateError, sqlite3.Error) as err:
            self._warn(err)
            return []
        # A clock stepped back leaves failures "in the future": count them as just now.
        return [PastFailure(kind, key, max(0.0, (now - at_ms) / 1000)) for kind, key, at_ms in rows]

    def record(self, keys: Iterable[tuple[str, str]], window_seconds: float) -> None:
        """Write one failure under each (kind, key); drop this service's expired rows."""
        now = self._wall_ms()
        rows = [(self._service, kind, key, now) for kind, key in keys]
        try:
            with StateStore.open(self._path) as store, store.write() as conn:
                conn.executemany(
                    "INSERT INTO login_failures (service, kind, key, at_ms) VALUES (?, ?, ?, ?)",
                    rows,
                )
                conn.execute(
                    "DELETE FROM login_failures WHERE service = ? AND at_ms <= ?",
                    (self._service, now - int(window_seconds * 1000)),
                )
                conn.execute(
                    "DELETE FROM login_failures WHERE rowid IN (SELECT rowid FROM"
                    " login_failures WHERE service = ? ORDER BY at_ms DESC LIMIT -1 OFFSET ?)",
                    (self._service, MAX_ROWS),
                )
        except (StateError, sqlite3.Error) as err:
            self._warn(err)

    def _warn(self, err: Exception) -> None:
        if not self._warned:
            log.warning(
                "failed logins not kept in the state file (%s): a restart forgets them", err
            )
            self._warned = True
