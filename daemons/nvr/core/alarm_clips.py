"""Alarm clips: which alarms get a clip, and the follow-up's kinds (docs/design/hse-edge.md).

Which events are alarms is `nvr.core.alarms`' call (hse.md, invariant 1); this adds which
of them get a clip. nvr-uplink cuts the clip and records the follow-up event; nvr-report
reports that event without coalescing it; nvr-hse, the HSE adapter and the Socket.IO link
forward its `clip_path`.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from nvr.core.alarms import CLIP_KIND, EVENT_COLUMNS, alarm_type, event_row

# The follow-up of an alarm once its clip is in MinIO (severity info), and the one that
# says no clip will come (severity warning). data: {"alarm_event_id", "clip_path", ...}.
ALARM_CLIP_KIND = CLIP_KIND
ALARM_CLIP_FAILED_KIND = "alarm_clip_failed"
FOLLOW_UP_KINDS = frozenset({ALARM_CLIP_KIND, ALARM_CLIP_FAILED_KIND})


@dataclass(frozen=True)
class AlarmEvent:
    """An alarm of one camera that gets a clip."""

    id: int
    at_ms: int
    camera: str
    kind: str
    message: str


def wants_clip(kind: str, severity: str, camera: str | None, data: dict[str, Any]) -> bool:
    """An alarm of a camera that is not a "back" message: what gets a clip.

    Alarms without a camera (disk, daemons) have no picture; a "back" message (camera
    online, picture ok) closes an alarm that had its clip; follow-ups are no alarms.
    """
    if camera is None or kind in FOLLOW_UP_KINDS:
        return False
    found = alarm_type(kind, severity, data)
    return found is not None and found.clears is None


def alarms_after(
    conn: sqlite3.Connection, after_id: int, limit: int
) -> tuple[list[AlarmEvent], int]:
    """Alarms that get a clip among the next `limit` events after `after_id`, and the cursor."""
    rows = conn.execute(
        f"SELECT {EVENT_COLUMNS} FROM events WHERE id > ? ORDER BY id LIMIT ?",
        (after_id, limit),
    ).fetchall()
    events = [event_row(tuple(r)) for r in rows]
    alarms = [
        AlarmEvent(e.id, e.created_at_ms, str(e.camera), e.kind, e.message)
        for e in events
        if wants_clip(e.kind, e.severity, e.camera, e.data)
    ]
    return alarms, (events[-1].id if events else after_id)
