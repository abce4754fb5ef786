"""Alarms: which events are alarms, their `alarm_type`, and the alarm messages themselves.

The one place that decides "is this event an alarm, and of which type" (nvr-hse's
WebSocket, nvr-uplink's MQTT `alarm/<site>` and nvr-report's alarm reports all ask here),
and the `hse_alarms` table: each alarm message exactly as it went out, numbered, so a
reconnecting client replays what it missed and MQTT publishes the same JSON.
See docs/design/hse.md (invariants 1-4).
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from nvr.core.timeutil import format_ms

# Event kinds that are alarms whatever their severity, with the HSE platform's alarm_type.
# A "back" kind names the alarm it clears (the backend shows both; a camera that comes
# back is news to a control room that saw it go).
# Not disk_high_watermark: the janitor deleting down to the low watermark is the disk
# working as designed; a disk is full when nothing more can be deleted (headroom, reserve).
_BY_KIND: dict[str, tuple[str, str | None]] = {
    "camera_not_recording": ("CameraOffline", None),
    "camera_recovered": ("CameraOnline", "CameraOffline"),
    "recording_blocked": ("RecordingStopped", None),
    "recording_unblocked": ("RecordingResumed", "RecordingStopped"),
    "disk_not_mounted": ("RecordingStopped", None),
    "disk_mounted": ("RecordingResumed", "RecordingStopped"),
    "disk_headroom_low": ("DiskFull", None),
    "disk_state_reserve_low": ("DiskFull", None),
    "disk_read_only": ("DiskFailing", None),
    "disk_write_failed": ("DiskFailing", None),
    "disk_only_protected_left": ("EvidenceAtRisk", None),
    "offsite_copy_lost": ("EvidenceAtRisk", None),
}
# camera_invalid carries the validator's problem word; its back kind is camera_valid.
_PICTURE = {
    "black": "PictureBlack",
    "covered": "PictureCovered",
    "blurred": "PictureBlurred",
    "blur": "PictureBlurred",
    "frozen": "PictureFrozen",
}
PICTURE_INVALID = "camera_invalid"
PICTURE_VALID = "camera_valid"
# SMART verdicts are `disk_smart_<what>`; these two are not failures.
_SMART_PREFIX = "disk_smart_"
_SMART_NOT_ALARMS = ("disk_smart_ok", "disk_smart_unavailable")
# Events other systems on the site posted (nvr-hse's ingest API): the type is theirs.
EXTERNAL_KIND = "external_alarm"
# A follow-up of an alarm: its clip was uploaded (recorded by the event-clip worker).
CLIP_KIND = "alarm_clip"
CRITICAL = "critical"


@dataclass(frozen=True)
class AlarmType:
    """An event's alarm_type, and the alarm_type it clears when it is a "back" message."""

    name: str
    clears: str | None = None


def alarm_type(kind: str, severity: str, data: dict[str, Any]) -> AlarmType | None:
    """The alarm an event is, or None when it is not one (docs/design/hse.md, invariant 1).

    Named kinds first; then any other critical event is an alarm too, so a new critical
    kind reaches the control room before anyone adds it here.
    """
    if kind == EXTERNAL_KIND:
        return AlarmType(str(data.get("alarm_type") or "External"))
    if kind == PICTURE_INVALID:
        return AlarmType(_PICTURE.get(str(data.get("problem", "")), "PictureInvalid"))
    if kind == PICTURE_VALID:
        return AlarmType("PictureOk", "PictureInvalid")
    if kind in _BY_KIND:
        name, clears = _BY_KIND[kind]
        return AlarmType(name, clears)
    if kind.startswith(_SMART_PREFIX) and kind not in _SMART_NOT_ALARMS:
        return AlarmType("DiskFailing")
    if severity == CRITICAL:
        return AlarmType("".join(part.capitalize() for part in kind.split("_")))
    return None


def is_alarm(kind: str, severity: str, data: dict[str, Any]) -> bool:
    """True when the event is an alarm (and so an `alarm` report, not an `event`)."""
    return alarm_type(kind, severity, data) is not None


@dataclass(frozen=True)
class EventRow:
    """An events row, as the alarm builder needs it."""

    id: int
    created_at_ms: int
    severity: str
    kind: str
    camera: str | None
    message: str
    data: dict[str, Any]


EVENT_COLUMNS = "id, created_at_ms, severity, kind, camera, message, data_json"


def event_row(row: tuple[Any, ...]) -> EventRow:
    """An EventRow from a SELECT of EVENT_COLUMNS."""
    data = json.loads(row[6] or "{}")
    return EventRow(row[0], row[1], row[2], row[3], row[4], row[5], data)


def alarm_message(
    event: EventRow, kind: AlarmType, camera_name: str | None, image_url: str | None
) -> dict[str, Any]:
    """The JSON of one alarm (without its `id`, which the table gives it)."""
    at = event.data.get("alarm_time") or format_ms(event.created_at_ms)
    message: dict[str, Any] = {
        "type": "alarm",
        "alarm_type": kind.name,
        "camera_id": event.camera,
        "camera_name": camera_name or event.camera or "",
        "alarm_time": at,
        "severity": event.severity,
        "message": event.message,
        "image_url": image_url,
        "minio_image_path": event.data.get("minio_image_path"),
        "event_id": event.id,
    }
    if kind.clears is not None:
        message["clears"] = kind.clears
    if event.kind == EXTERNAL_KIND:
        message["source"] = "ingest"
        message["details"] = event.data.get("details") or {}
    return message


def clip_message(event: EventRow, alarm_id: int) -> dict[str, Any]:
    """The follow-up of alarm `alarm_id`: where its clip is in MinIO."""
    return {
        "type": "clip",
        "alarm_id": alarm_id,
        "clip_path": event.data.get("clip_path"),
        "camera_id": event.camera,
        "event_id": event.id,
    }


# -- the hse_alarms table --------------------------------------------------------------------
# hse_cursors names of the readers of hse_alarms: nvr-uplink's MQTT publisher, and where
# nvr-hse's WebSocket clients without `?since=` have got to. nvr-hse's retention keeps
# every message a reader has not passed (docs/design/hse.md, invariant 8).
MQTT_CURSOR = "mqtt"
WS_CURSOR = "ws"
# Readers of the events table and their cursors: hse_cursors rows of nvr-hse's alarm feed,
# nvr-uplink's clip finder and its Socket.IO link, and nvr-report's report_state key. A
# reader without a saved cursor starts near the present (the last minutes or hour), so
# old events are needed only by readers whose cursor has not passed them.
FEED_CURSOR = "events"
CLIPS_CURSOR = "alarm_clips"
SOCKETIO_CURSOR = "socketio_alerts"
EVENT_CURSORS = (FEED_CURSOR, CLIPS_CURSOR, SOCKETIO_CURSOR)
REPORT_EVENT_CURSOR_KEY = "events_cursor"


def insert_message(
    conn: sqlite3.Connection, event_id: int, alarm_id: int | None, at_ms: int, body: dict[str, Any]
) -> int:
    """Store one outgoing message; returns its id (the replay cursor)."""
    cursor = conn.execute(
        "INSERT INTO hse_alarms (event_id, alarm_id, created_at_ms, message_json)"
        " VALUES (?, ?, ?, ?)",
        (event_id, alarm_id, at_ms, json.dumps(body, separators=(",", ":"))),
    )
    return int(cursor.lastrowid or 0)


def alarm_id_of_event(conn: sqlite3.Connection, event_id: int) -> int | None:
    """The hse_alarms id of the alarm made from event `event_id`, if any."""
    row = conn.execute(
        "SELECT id FROM hse_alarms WHERE event_id = ? AND alarm_id IS NULL", (event_id,)
    ).fetchone()
    return None if row is None else int(row[0])


def messages_after(
    conn: sqlite3.Connection, after_id: int, since_ms: int, limit: int
) -> list[dict[str, Any]]:
    """Messages with an id above `after_id`, created at or after `since_ms`, oldest first.

    At most `limit`: the oldest of what is waiting, so a long backlog drains in order
    over several reads (docs/design/hse.md, invariant 3).
    """
    rows = conn.execute(
        "SELECT id, message_json FROM hse_alarms WHERE id > ? AND created_at_ms >= ?"
        " ORDER BY id LIMIT ?",
        (after_id, since_ms, limit),
    ).fetchall()
    return [with_id(row[0], row[1]) for row in rows]


def with_id(message_id: int, message_json: str) -> dict[str, Any]:
    """A stored message with its `id` set."""
    body: dict[str, Any] = json.loads(message_json)
    body["id"] = message_id
    return body


def last_message_id(conn: sqlite3.Connection) -> int:
    """The newest message id (0 when none)."""
    row = conn.execute("SELECT coalesce(max(id), 0) FROM hse_alarms").fetchone()
    return int(row[0])


def read_cursor(conn: sqlite3.Connection, name: str) -> int | None:
    """A reader's saved position (hse_cursors), None when it never saved one."""
    row = conn.execute("SELECT last_id FROM hse_cursors WHERE name = ?", (name,)).fetchone()
    return None if row is None else int(row[0])


def save_cursor(conn: sqlite3.Connection, name: str, last_id: int) -> None:
    """Remember a reader's position."""
    conn.execute(
        "INSERT INTO hse_cursors (name, last_id) VALUES (?, ?)"
        " ON CONFLICT (name) DO UPDATE SET last_id = excluded.last_id",
        (name, last_id),
    )


def events_read_by_all(conn: sqlite3.Connection) -> int:
    """The newest event id every reader with a cursor has passed (all of them: no reader)."""
    marks = ",".join("?" * len(EVENT_CURSORS))
    row = conn.execute(
        f"SELECT min(last_id) FROM hse_cursors WHERE name IN ({marks})", EVENT_CURSORS
    ).fetchone()
    positions = [] if row[0] is None else [int(row[0])]
    report = conn.execute(
        "SELECT value FROM report_state WHERE key = ?", (REPORT_EVENT_CURSOR_KEY,)
    ).fetchone()
    if report is not None:
        positions.append(int(report[0]))
    return min(positions, default=2**63 - 1)
