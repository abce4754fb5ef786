"""The compact status the centre sees on MQTT (and in a `get_status` result).

Read from the state file only: daemons from their heartbeats, the disk from nvr-hddmon's
heartbeat, the uplink backlog from the outbox cursors and the upload queue, each camera's
recording state from nvr-backup's heartbeat and its latest validation. The full status
report (coverage with gap reasons and so on) is nvr-report's; this is what fits a
retained MQTT message.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from nvr.core.config import Config
from nvr.core.heartbeats import Heartbeat, read_heartbeats
from nvr.core.tables.outbox import backlog, report_destinations
from nvr.core.timeutil import format_ms

BACKUP = "nvr-backup"
HDDMON = "nvr-hddmon"
DISK_KEYS = ("percent", "free_bytes", "total_bytes")
# Worst first: the camera's validation is the worst of its latest checks.
VALIDATION_ORDER = ("fail", "warn", "ok")


@dataclass(frozen=True)
class StatusSnapshot:
    """The site's status and each camera's, read at one moment."""

    site: dict[str, Any]
    cameras: dict[str, dict[str, Any]]


def read_status(conn: sqlite3.Connection, config: Config, now_ms: int) -> StatusSnapshot:
    """The status for `status/<site>/state` and `status/<site>/cameras/<camera>`."""
    beats = read_heartbeats(conn)
    cameras = camera_statuses(conn, config, now_ms, beats)
    return StatusSnapshot(site_status(conn, config, now_ms, beats, cameras), cameras)


def site_status(
    conn: sqlite3.Connection,
    config: Config,
    now_ms: int,
    beats: dict[str, Heartbeat],
    cameras: dict[str, dict[str, Any]],
) -> dict[str, Any]:
    """Daemons, disk, uplink backlog and a camera count."""
    return {
        "site_id": config.site.id,
        "at": format_ms(now_ms),
        "daemons": {
            name: beat.summary(now_ms, config.health.heartbeat_stale_factor)
            for name, beat in sorted(beats.items())
        },
        "disk": _disk(beats.get(HDDMON)),
        "uplink": _uplink(conn, config),
        "cameras": {
            "configured": len(cameras),
            "recording": sum(1 for c in cameras.values() if c["recording"]["state"] == "recording"),
        },
    }


def _disk(hddmon: Heartbeat | None) -> dict[str, Any]:
    if hddmon is None:
        return {"known": False}
    detail = hddmon.detail
    return {"known": True, **{key: detail[key] for key in DISK_KEYS if key in detail}}


def _uplink(conn: sqlite3.Connection, config: Config) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in report_destinations(config):
        queue = backlog(conn, name)
        out[name] = {"pending": queue.pending, "dead_letters": queue.dead_letters}
    out["uploads_pending"] = conn.execute(
        "SELECT count(*) FROM uploads WHERE state = 'pending'"
    ).fetchone()[0]
    return out


def camera_statuses(
    conn: sqlite3.Connection, config: Config, now_ms: int, beats: dict[str, Heartbeat]
) -> dict[str, dict[str, Any]]:
    """Per camera: recording state (nvr-backup's heartbeat) and latest validation."""
    backup = beats.get(BACKUP)
    recorders = backup.detail.get("cameras", {}) if backup else {}
    return {
        camera.id: {
            "camera": camera.id,
            "name": camera.name,
            "enabled": camera.enabled,
            "at": format_ms(now_ms),
            "recording": recorders.get(camera.id, {"state": "unknown"}),
            "validation": latest_validation(conn, camera.id),
        }
        for camera in config.cameras
    }


def latest_validation(conn: sqlite3.Connection, camera: str) -> dict[str, Any] | None:
    """The worst result of the camera's latest validation pass, with its problems."""
    rows = conn.execute(
        "SELECT check_name, status, reason, checked_at_ms FROM validations WHERE camera = ?"
        " AND checked_at_ms = (SELECT max(checked_at_ms) FROM validations WHERE camera = ?)"
        " ORDER BY check_name",
        (camera, camera),
    ).fetchall()
    if not rows:
        return None
    statuses = {row[1] for row in rows}
    return {
        "status": next(s for s in VALIDATION_ORDER if s in statuses),
        "checked_at": format_ms(rows[0][3]),
        "problems": [
            {"check": row[0], "status": row[1], "reason": row[2]} for row in rows if row[1] != "ok"
        ],
    }
