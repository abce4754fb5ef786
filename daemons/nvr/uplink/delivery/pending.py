"""The outbox: report envelopes waiting for delivery, with one cursor per destination.

Appending and the backlog figures live in nvr.core.tables.outbox (any daemon appends); only
nvr-uplink advances cursors, records dead letters, prunes delivered rows and enforces the
bound. See docs/design/outbox.md.
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from nvr.core.state import StateStore, now_ms
from nvr.core.tables.outbox import KEPT_PRIORITY, KIND_ALARM, append, cursor
from nvr.uplink.constants import OVERFLOW_EVENT_KIND, OVERFLOW_TARGET_FRACTION


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


# -- cursors -----------------------------------------------------------------------------
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
