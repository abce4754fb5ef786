"""The outbox's shared contract: report kinds, the envelope, appending, backlog figures.

Any daemon may append a report (nvr-report, nvr-uplink's command journal, `nvrctl report
now`); only nvr-uplink delivers, moves cursors, prunes and enforces the bound
(nvr.uplink.delivery.pending). Kept in the core so that no daemon imports another's package.
See docs/design/outbox.md.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from dataclasses import dataclass
from typing import Any

from nvr.core.config import Config
from nvr.core.errors import NvrError
from nvr.core.state import StateStore, now_ms
from nvr.core.timeutil import format_ms

ENVELOPE_SCHEMA = 1

# Report kinds and their overflow priority: the lowest goes first when the outbox is full.
KIND_STATUS = "status"
KIND_EVENT = "event"
KIND_ALARM = "alarm"
KIND_DAILY_SUMMARY = "daily_summary"
# A command from the centre and its outcome (docs/design/commands.md): the centre asked for
# it, so it outranks routine events, but an alarm still matters more.
KIND_COMMAND = "command"
PRIORITY = {
    KIND_STATUS: 10,
    KIND_EVENT: 20,
    KIND_COMMAND: 25,
    KIND_ALARM: 30,
    KIND_DAILY_SUMMARY: 40,
}
# Rows at or above this priority are never dropped (daily summaries).
KEPT_PRIORITY = 40

# Destination names (cursor keys, log names).
HEAD_OFFICE = "head_office"
HSE_API = "hse_api"
DISPLAY_NAME = {HEAD_OFFICE: "head office", HSE_API: "HSE"}


def report_destinations(config: Config) -> list[str]:
    """The report destinations the config names, head office first."""
    names = [HEAD_OFFICE] if config.uplink.head_office else []
    return names + ([HSE_API] if config.uplink.hse_api else [])


class OutboxError(NvrError):
    """A report that cannot be appended (a bug in the caller: an unknown kind)."""


def append(
    conn: sqlite3.Connection, site_id: str, kind: str, body: dict[str, Any]
) -> dict[str, Any]:
    """Append one report inside the caller's write transaction; return its envelope.

    The seq is allocated in the same transaction (invariant 1: gapless per site), so a
    caller that also moves its own cursor here gets both or neither.
    """
    if kind not in PRIORITY:
        raise OutboxError(f"unknown report kind {kind!r}")
    seq = _next_seq(conn, site_id)
    created = now_ms()
    envelope = {
        "schema": ENVELOPE_SCHEMA,
        "id": str(uuid.uuid4()),
        "site_id": site_id,
        "kind": kind,
        "created_at": format_ms(created),
        "seq": seq,
        "body": body,
    }
    text = json.dumps(envelope, separators=(",", ":"), sort_keys=True)
    conn.execute(
        "INSERT INTO outbox (report_id, site_id, seq, kind, priority, created_at_ms, bytes,"
        " envelope_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (envelope["id"], site_id, seq, kind, PRIORITY[kind], created, len(text), text),
    )
    return envelope


def append_report(
    store: StateStore, site_id: str, kind: str, body: dict[str, Any]
) -> dict[str, Any]:
    """Append one report in its own transaction."""
    with store.write() as conn:
        return append(conn, site_id, kind, body)


def _next_seq(conn: sqlite3.Connection, site_id: str) -> int:
    row = conn.execute(
        "INSERT INTO outbox_seq (site_id, last_seq) VALUES (?, 1) ON CONFLICT (site_id)"
        " DO UPDATE SET last_seq = last_seq + 1 RETURNING last_seq",
        (site_id,),
    ).fetchone()
    return int(row[0])


def cursor(conn: sqlite3.Connection, destination: str) -> int:
    """Outbox id up to which `destination` is done (0 when it never delivered)."""
    row = conn.execute(
        "SELECT last_id FROM uplink_cursors WHERE destination = ?", (destination,)
    ).fetchone()
    return int(row[0]) if row else 0


# -- what `nvrctl outbox` and the status line show ---------------------------------------
@dataclass(frozen=True)
class Backlog:
    """One destination's queue."""

    destination: str
    pending: int
    oldest_created_at_ms: int | None
    dead_letters: int


def backlog(conn: sqlite3.Connection, destination: str) -> Backlog:
    """Pending count, the oldest pending report's time, and dead letters."""
    last = cursor(conn, destination)
    count, oldest = conn.execute(
        "SELECT count(*), min(created_at_ms) FROM outbox WHERE id > ?", (last,)
    ).fetchone()
    dead = conn.execute(
        "SELECT count(*) FROM dead_letters WHERE destination = ?", (destination,)
    ).fetchone()[0]
    return Backlog(destination, int(count), oldest, int(dead))


def dead_letters(conn: sqlite3.Connection, limit: int = 20) -> list[sqlite3.Row]:
    """The most recent dead letters, newest first."""
    return list(
        conn.execute(
            "SELECT destination, seq, kind, report_id, error, created_at_ms FROM dead_letters"
            " ORDER BY id DESC LIMIT ?",
            (limit,),
        ).fetchall()
    )


# -- maintenance (nvr-uplink only) -------------------------------------------------------
