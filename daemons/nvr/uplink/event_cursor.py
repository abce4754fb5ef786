"""Where nvr-uplink's event readers start in the events table (their rows of hse_cursors).

Alarm clips and Socket.IO alerts each read the events after their cursor and save it
(`nvr.core.alarms.save_cursor`) in the transaction that records what they did with them
(docs/design/hse-edge.md).
"""

from __future__ import annotations

import sqlite3

from nvr.core.alarms import read_cursor
from nvr.uplink.constants import FIRST_LOOK_BACK_MS


def start_after(conn: sqlite3.Connection, name: str, now_ms: int) -> int:
    """The last event handled; on a first start, the last one before the look-back.

    A box that gets this feature (or a new centre) handles the last few minutes of
    events, not its whole history.
    """
    saved = read_cursor(conn, name)
    if saved is not None:
        return saved
    first = conn.execute(
        "SELECT coalesce(max(id), 0) FROM events WHERE created_at_ms < ?",
        (now_ms - FIRST_LOOK_BACK_MS,),
    ).fetchone()
    return int(first[0])
