"""Where nvr-uplink's event readers are in the events table (table event_cursors).

Alarm clips and Socket.IO alerts each read the events after their cursor and move it in
the transaction that records what they did with them (docs/design/hse-edge.md).
"""

from __future__ import annotations

import sqlite3

from nvr.uplink.constants import FIRST_LOOK_BACK_MS


def read_cursor(conn: sqlite3.Connection, name: str, now_ms: int) -> int:
    """The last event handled; on a first start, the last one before the look-back.

    A box that gets this feature (or a new centre) handles the last few minutes of
    events, not its whole history.
    """
    row = conn.execute("SELECT last_event_id FROM event_cursors WHERE name = ?", (name,)).fetchone()
    if row is not None:
        return int(row[0])
    first = conn.execute(
        "SELECT coalesce(max(id), 0) FROM events WHERE created_at_ms < ?",
        (now_ms - FIRST_LOOK_BACK_MS,),
    ).fetchone()
    return int(first[0])


def move_cursor(conn: sqlite3.Connection, name: str, last: int, now_ms: int) -> None:
    """Set the cursor inside the caller's write transaction."""
    conn.execute(
        "INSERT INTO event_cursors (name, last_event_id, updated_at_ms) VALUES (?, ?, ?)"
        " ON CONFLICT (name) DO UPDATE SET last_event_id = excluded.last_event_id,"
        " updated_at_ms = excluded.updated_at_ms",
        (name, last, now_ms),
    )
