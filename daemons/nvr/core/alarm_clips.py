"""Alarm clips: the shared contract of the clip every alarm gets (docs/design/hse-edge.md).

nvr-uplink cuts the clip and records the follow-up event; nvr-report reports that event
without coalescing it; the HSE adapter and the Socket.IO link forward its `clip_path`. Kept
in the core so none of them imports another's package.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

# The follow-up event of an alarm once its clip is in MinIO (severity info), and the one
# that says no clip will come (severity warning). data: {"alarm_event_id", "clip_path", ...}.
ALARM_CLIP_KIND = "alarm_clip"
ALARM_CLIP_FAILED_KIND = "alarm_clip_failed"
FOLLOW_UP_KINDS = frozenset({ALARM_CLIP_KIND, ALARM_CLIP_FAILED_KIND})
# An alarm is a critical event (the severity nvr-report turns into an `alarm` report).
ALARM_SEVERITY = "critical"


@dataclass(frozen=True)
class AlarmEvent:
    """An event that is an alarm of one camera."""

    id: int
    at_ms: int
    camera: str
    kind: str
    message: str


def is_alarm(severity: str, kind: str, camera: str | None) -> bool:
    """A critical event of a camera: what gets a clip.

    Events without a camera (disk, daemons) have no picture to clip; follow-ups are never
    alarms themselves.
    """
    return severity == ALARM_SEVERITY and camera is not None and kind not in FOLLOW_UP_KINDS


def alarms_after(
    conn: sqlite3.Connection, after_id: int, limit: int
) -> tuple[list[AlarmEvent], int]:
    """Alarms among the next `limit` events after id `after_id`, and the new cursor."""
    rows = conn.execute(
        "SELECT id, created_at_ms, severity, kind, camera, message FROM events"
        " WHERE id > ? ORDER BY id LIMIT ?",
        (after_id, limit),
    ).fetchall()
    alarms = [
        AlarmEvent(int(r[0]), int(r[1]), str(r[4]), str(r[3]), str(r[5]))
        for r in rows
        if is_alarm(r[2], r[3], r[4])
    ]
    return alarms, (int(rows[-1][0]) if rows else after_id)
