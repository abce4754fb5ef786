"""The bodies of status and daily summary reports, read from the state file.

Numbers come from the modules other daemons share (`nvr.core.tables.recordings.coverage`), so
"minutes recorded" means the same in a report, in nvrctl and in nvr-health.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from nvr.core.chain import report_heads
from nvr.core.config import Config
from nvr.core.heartbeats import Heartbeat, read_heartbeats
from nvr.core.identity import IdentityError, load_identity
from nvr.core.sitehealth import coverage_windows, health_of, recent_crashes
from nvr.core.tables.offsite import offsite_cameras, offsite_status
from nvr.core.tables.outbox import backlog, report_destinations
from nvr.core.tables.recordings import coverage
from nvr.core.tables.uploads import pending_by_kind
from nvr.core.timeutil import format_ms

HDDMON = "nvr-hddmon"
BACKUP = "nvr-backup"
DISK_KEYS = ("percent", "free_bytes", "total_bytes", "smart", "alerts", "deleted_today")


def status_body(
    conn: sqlite3.Connection, config: Config, from_ms: int, to_ms: int
) -> dict[str, Any]:
    """Per camera, disk, daemons, uplink backlog (and MinIO objects) for [from_ms, to_ms)."""
    beats = read_heartbeats(conn)
    body = {
        "period": {"from": format_ms(from_ms), "to": format_ms(to_ms)},
        "cameras": cameras(conn, config, beats.get(BACKUP), from_ms, to_ms),
        "disk": disk(beats.get(HDDMON)),
        "daemons": daemons(
            beats,
            to_ms,
            config.health.heartbeat_stale_factor,
            recent_crashes(conn, to_ms - int(config.health.crash_loop_window_seconds * 1000)),
        ),
        "health": health_of(beats, to_ms, config.health.heartbeat_stale_factor),
        "uplink": uplink_backlog(conn, config),
        "evidence": evidence(conn, config, to_ms),
    }
    if config.uplink.minio is not None or offsite_cameras(config):
        body["objects"] = objects(conn, config, from_ms, to_ms)
    return body


def cameras(
    conn: sqlite3.Connection,
    config: Config,
    backup: Heartbeat | None,
    from_ms: int,
    to_ms: int,
) -> list[dict[str, Any]]:
    """Recording state, coverage with gap reasons and the last validation of each camera."""
    states = backup.detail.get("cameras", {}) if backup else {}
    out = []
    for camera in config.cameras:
        cover = coverage(conn, camera.id, from_ms, to_ms).to_json()
        cover.pop("camera", None)
        out.append(
            {
                "id": camera.id,
                "name": camera.name,
                "enabled": camera.enabled,
                "recording": states.get(camera.id, {"state": "unknown"}),
                "coverage": cover,
                "windows": coverage_windows(conn, camera.id, to_ms),
                "validation": last_validation(conn, camera.id),
            }
        )
    return out


def evidence(conn: sqlite3.Connection, config: Config, now_ms: int) -> dict[str, Any]:
    """The box's public key and each camera's chain head, anchored at head office.

    Once head office holds a head, rewriting the recordings and the state file together
    no longer goes unnoticed (docs/design/evidence.md, invariant 3).
    """
    # Configured cameras: a removed camera's chain no longer moves, its last head was sent.
    cameras = [camera.id for camera in config.cameras]
    heads = [head.to_json() for head in report_heads(conn, cameras, now_ms)]
    try:
        key: dict[str, Any] = load_identity(config.storage.state_file).public_json()
    except IdentityError as err:
        key = {"error": str(err)}
    return {"public_key": key, "chain_heads": heads}


def last_validation(conn: sqlite3.Connection, camera: str) -> list[dict[str, Any]]:
    """The latest result of each check for one camera."""
    rows = conn.execute(
        "SELECT check_name, status, reason, checked_at_ms FROM validations v WHERE camera = ?"
        " AND checked_at_ms = (SELECT max(checked_at_ms) FROM validations"
        " WHERE camera = v.camera AND check_name = v.check_name) ORDER BY check_name",
        (camera,),
    ).fetchall()
    return [
        {"check": r[0], "status": r[1], "reason": r[2], "checked_at": format_ms(r[3])} for r in rows
    ]


def disk(hddmon: Heartbeat | None) -> dict[str, Any]:
    """Usage, headroom alerts and SMART as nvr-hddmon last reported them."""
    if hddmon is None:
        return {"known": False, "reason": "no heartbeat from nvr-hddmon"}
    detail = hddmon.detail
    return {"known": True, **{key: detail[key] for key in DISK_KEYS if key in detail}}


def daemons(
    beats: dict[str, Heartbeat], now_ms: int, stale_factor: float, crashes: dict[str, int]
) -> list[dict[str, Any]]:
    """Each daemon's last heartbeat, whether it is stale, its crashes in the loop window."""
    return [
        {
            "daemon": name,
            **beat.summary(now_ms, stale_factor),
            "started_at": format_ms(beat.started_at_ms),
            "recent_crashes": crashes.get(name, 0),
        }
        for name, beat in sorted(beats.items())
    ]


def uplink_backlog(conn: sqlite3.Connection, config: Config) -> dict[str, Any]:
    """Pending reports and dead letters per configured destination."""
    out: dict[str, Any] = {}
    for name in report_destinations(config):
        queue = backlog(conn, name)
        oldest = queue.oldest_created_at_ms
        out[name] = {
            "pending": queue.pending,
            "oldest_pending": format_ms(oldest) if oldest is not None else None,
            "dead_letters": queue.dead_letters,
        }
    return out


def objects(conn: sqlite3.Connection, config: Config, from_ms: int, to_ms: int) -> dict[str, Any]:
    """MinIO uploads waiting, and the offsite copy: how far behind, what retention took first.

    `offsite.cameras[].lost_before_copy` names the segments deleted locally before they were
    copied in the period (count, bytes, from, to); see docs/design/objects.md.
    """
    return {
        "minio_configured": config.uplink.minio is not None,
        "pending": pending_by_kind(conn),
        "offsite": offsite_status(conn, offsite_cameras(config), from_ms, to_ms),
    }


def daily_body(
    conn: sqlite3.Connection, config: Config, from_ms: int, to_ms: int
) -> dict[str, Any]:
    """The day: coverage per camera, events by kind and severity, validation failures."""
    body = status_body(conn, config, from_ms, to_ms)
    events = conn.execute(
        "SELECT kind, severity, count(*) FROM events WHERE created_at_ms >= ? AND created_at_ms < ?"
        " GROUP BY kind, severity ORDER BY kind",
        (from_ms, to_ms),
    ).fetchall()
    failures = conn.execute(
        "SELECT camera, check_name, count(*) FROM validations WHERE status = 'fail'"
        " AND checked_at_ms >= ? AND checked_at_ms < ? GROUP BY camera, check_name",
        (from_ms, to_ms),
    ).fetchall()
    body["events"] = [{"kind": r[0], "severity": r[1], "count": r[2]} for r in events]
    body["validation_failures"] = [{"camera": r[0], "check": r[1], "count": r[2]} for r in failures]
    return body
