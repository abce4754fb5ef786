"""Where event reports come from: event rows, failed validations, daemon restarts.

Each reader returns notices and the new cursor value; the daemon stores the cursor in the
same transaction as the reports (docs/design/outbox.md, invariant 6).
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from nvr.report.coalesce import Notice
from nvr.report.constants import EVENTS_PER_TICK, SOURCE


def read_state(conn: sqlite3.Connection, key: str) -> str | None:
    """A value of report_state."""
    row = conn.execute("SELECT value FROM report_state WHERE key = ?", (key,)).fetchone()
    return None if row is None else str(row[0])


def write_state(conn: sqlite3.Connection, key: str, value: str) -> None:
    """Set a value of report_state (inside the caller's transaction)."""
    conn.execute(
        "INSERT INTO report_state (key, value) VALUES (?, ?)"
        " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (key, value),
    )


def max_id(conn: sqlite3.Connection, table: str) -> int:
    """The largest id of `table` (0 when empty); the cursor's value on a first start."""
    return int(conn.execute(f"SELECT coalesce(max(id), 0) FROM {table}").fetchone()[0])


def new_events(conn: sqlite3.Connection, after: int) -> tuple[list[Notice], int]:
    """Events appended by other daemons after id `after`."""
    rows = conn.execute(
        "SELECT id, created_at_ms, source, severity, kind, camera, message, data_json"
        " FROM events WHERE id > ? ORDER BY id LIMIT ?",
        (after, EVENTS_PER_TICK),
    ).fetchall()
    notices = [
        Notice(
            key=f"camera:{r['camera']}" if r["camera"] else f"kind:{r['kind']}",
            kind=r["kind"],
            severity=r["severity"],
            message=r["message"],
            at_ms=r["created_at_ms"],
            camera=r["camera"],
            # event_id: what an alarm's clip follow-up names (alarm_event_id).
            data={"source": r["source"], "event_id": r["id"], **json.loads(r["data_json"])},
        )
        for r in rows
        if r["source"] != SOURCE
    ]
    return notices, (rows[-1]["id"] if rows else after)


def failed_validations(conn: sqlite3.Connection, after: int) -> tuple[list[Notice], int]:
    """Validation results with status fail after id `after`."""
    rows = conn.execute(
        "SELECT id, camera, check_name, status, reason, values_json, checked_at_ms"
        " FROM validations WHERE id > ? ORDER BY id LIMIT ?",
        (after, EVENTS_PER_TICK),
    ).fetchall()
    notices = [
        Notice(
            key=f"validation:{r['camera']}:{r['check_name']}",
            kind="validation_failed",
            severity="warning",
            message=f"camera={r['camera']} check {r['check_name']} failed: {r['reason']}",
            at_ms=r["checked_at_ms"],
            camera=r["camera"],
            data={"check": r["check_name"], "values": json.loads(r["values_json"])},
        )
        for r in rows
        if r["status"] == "fail"
    ]
    return notices, (rows[-1]["id"] if rows else after)


def restarts(
    conn: sqlite3.Connection, known: dict[str, int], now_ms: int
) -> tuple[list[Notice], dict[str, int]]:
    """Daemons whose heartbeat shows a new start time since the last look."""
    current: dict[str, int] = {
        r[0]: int(r[1]) for r in conn.execute("SELECT daemon, started_at_ms FROM heartbeats")
    }
    notices = [
        Notice(
            key=f"daemon:{name}",
            kind="daemon_restarted",
            severity="warning",
            message=f"{name} restarted",
            at_ms=now_ms,
            data={"daemon": name, "started_at_ms": started},
        )
        for name, started in sorted(current.items())
        if name in known and known[name] != started and name != SOURCE
    ]
    return notices, current


def parse_starts(text: str | None) -> dict[str, int] | None:
    """The stored start times, or None on a first start."""
    if text is None:
        return None
    data: dict[str, Any] = json.loads(text)
    return {str(k): int(v) for k, v in data.items()}
