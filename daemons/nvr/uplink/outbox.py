"""The outbox: report envelopes waiting for delivery, with one cursor per destination.

nvr-report (and `nvrctl report now`) append; only nvr-uplink advances cursors, records dead
letters, prunes delivered rows and enforces the bound. See docs/design/outbox.md.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from nvr.core.state import StateStore, now_ms
from nvr.core.timeutil import format_ms
from nvr.uplink.constants import (
    ENVELOPE_SCHEMA,
    KEPT_PRIORITY,
    KIND_ALARM,
    OVERFLOW_EVENT_KIND,
    OVERFLOW_TARGET_FRACTION,
    PRIORITY,
)
from nvr.uplink.errors import UplinkError


@dataclass(frozen=True)
class OutboxRow:
    """One pending report as a destination sees it."""

    id: int
    seq: int
    report_id: str
    kind: str
    envelope_json: str

    def envelope(self) -> dict[str, Any]:
        """The envelope, parsed."""
        parsed: dict[str, Any] = json.loads(self.envelope_json)
        return parsed


def append(
    conn: sqlite3.Connection, site_id: str, kind: str, body: dict[str, Any]
) -> dict[str, Any]:
    """Append one report inside the caller's write transaction; return its envelope.

    The seq is allocated in the same transaction (invariant 1: gapless per site), so a
    caller that also moves its own cursor here gets both or neither.
    """
    if kind not in PRIORITY:
        raise UplinkError(f"unknown report kind {kind!r}")
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


# -- cursors -----------------------------------------------------------------------------
def cursor(conn: sqlite3.Connection, destination: str) -> int:
    """Outbox id up to which `destination` is done (0 when it never delivered)."""
    row = conn.execute(
        "SELECT last_id FROM uplink_cursors WHERE destination = ?", (destination,)
    ).fetchone()
    return int(row[0]) if row else 0


def pending(store: StateStore, destination: str, limit: int) -> list[OutboxRow]:
    """The next `limit` rows for `destination`, oldest first."""
    conn = store.read()
    rows = conn.execute(
        "SELECT id, seq, report_id, kind, envelope_json FROM outbox WHERE id > ?"
        " ORDER BY id LIMIT ?",
        (cursor(conn, destination), limit),
    ).fetchall()
    return [OutboxRow(*row) for row in rows]


def advance(
    store: StateStore, destination: str, last_id: int, dead: Iterable[tuple[OutboxRow, str]] = ()
) -> None:
    """Mark everything up to `last_id` done for `destination`, with its dead letters."""
    with store.write() as conn:
        for row, error in dead:
            conn.execute(
                "INSERT INTO dead_letters (destination, outbox_id, report_id, seq, kind,"
                " status_code, error, envelope_json, created_at_ms)"
                " VALUES (?, ?, ?, ?, ?, NULL, ?, ?, ?)",
                (
                    destination,
                    row.id,
                    row.report_id,
                    row.seq,
                    row.kind,
                    error,
                    row.envelope_json,
                    now_ms(),
                ),
            )
        conn.execute(
            "INSERT INTO uplink_cursors (destination, last_id, updated_at_ms) VALUES (?, ?, ?)"
            " ON CONFLICT (destination) DO UPDATE SET last_id = max(last_id, excluded.last_id),"
            " updated_at_ms = excluded.updated_at_ms",
            (destination, last_id, now_ms()),
        )


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
def prune(store: StateStore, destinations: Sequence[str]) -> int:
    """Delete rows every configured destination is done with; return how many."""
    if not destinations:
        return 0
    with store.write() as conn:
        done = min(cursor(conn, name) for name in destinations)
        deleted = conn.execute("DELETE FROM outbox WHERE id <= ?", (done,)).rowcount
    return int(deleted)


@dataclass(frozen=True)
class Overflow:
    """What an overflow dropped."""

    rows: int
    bytes: int
    by_kind: dict[str, int]
    seq_ranges: list[list[int]]

    def message(self) -> str:
        """One line for the event and the log."""
        kinds = ", ".join(f"{count} {kind}" for kind, count in sorted(self.by_kind.items()))
        return f"outbox full: dropped {self.rows} reports ({kinds}), least important first"


def enforce_bound(
    store: StateStore, site_id: str, max_rows: int, max_bytes: int
) -> Overflow | None:
    """Drop the least important pending rows when over the bound, and say so in a report.

    The announcement is an alarm-priority event report listing the dropped seq ranges, so
    a receiver can tell an announced drop from a lost report (invariant 5).
    """
    with store.write() as conn:
        rows, total = conn.execute(
            "SELECT count(*), coalesce(sum(bytes), 0) FROM outbox"
        ).fetchone()
        if rows <= max_rows and total <= max_bytes:
            return None
        victims = _victims(
            conn,
            rows - int(max_rows * OVERFLOW_TARGET_FRACTION),
            total - int(max_bytes * OVERFLOW_TARGET_FRACTION),
        )
        if not victims:
            return None
        conn.executemany("DELETE FROM outbox WHERE id = ?", [(v[0],) for v in victims])
        overflow = Overflow(
            rows=len(victims),
            bytes=sum(v[3] for v in victims),
            by_kind=dict(Counter(v[2] for v in victims)),
            seq_ranges=seq_ranges(sorted(v[1] for v in victims)),
        )
        body = {
            "event": OVERFLOW_EVENT_KIND,
            "severity": "warning",
            "message": overflow.message(),
            "dropped": overflow.rows,
            "dropped_by_kind": overflow.by_kind,
            "dropped_seqs": overflow.seq_ranges,
        }
        append(conn, site_id, KIND_ALARM, body)
    return overflow


def _victims(
    conn: sqlite3.Connection, excess_rows: int, excess_bytes: int
) -> list[tuple[int, int, str, int]]:
    """Rows to drop: lowest priority first, oldest first within a priority."""
    victims: list[tuple[int, int, str, int]] = []
    freed = 0
    query = conn.execute(
        "SELECT id, seq, kind, bytes FROM outbox WHERE priority < ? ORDER BY priority, id",
        (KEPT_PRIORITY,),
    )
    for row in query:
        if len(victims) >= excess_rows and freed >= excess_bytes:
            break
        victims.append((int(row[0]), int(row[1]), str(row[2]), int(row[3])))
        freed += int(row[3])
    return victims


def seq_ranges(seqs: Sequence[int]) -> list[list[int]]:
    """Collapse sorted seqs into inclusive [first, last] ranges."""
    ranges: list[list[int]] = []
    for seq in seqs:
        if ranges and ranges[-1][1] == seq - 1:
            ranges[-1][1] = seq
        else:
            ranges.append([seq, seq])
    return ranges
