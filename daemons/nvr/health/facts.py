"""Everything a check looks at, read from the state file in one pass per request.

Only indexed lookups: the newest segment of a camera comes from segments_camera_start,
the newest validation from validations_camera_time, the oldest pending report from the
outbox's primary key. That keeps /health cheap at a million segments (docs/design/health.md,
invariant 1).
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass
from typing import Any

from nvr.core.config import Config
from nvr.core.configloads import ConfigLoad, read_config_loads
from nvr.core.heartbeats import Heartbeat, read_heartbeats
from nvr.core.redact import redact_text
from nvr.core.sitehealth import recent_crashes
from nvr.health.constants import UPLINK_DAEMON
from nvr.health.probes import ProbeResults

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LastSegment:
    """A camera's newest indexed segment."""

    start_ms: int
    end_ms: int


@dataclass(frozen=True)
class LastValidation:
    """A camera's latest validation: the worst of the checks of that run."""

    status: str
    check_name: str
    reason: str
    checked_at_ms: int


@dataclass(frozen=True)
class Destination:
    """One uplink destination's queue as nvr-uplink last reported it, plus the outbox."""

    name: str
    backlog: int
    oldest_pending_ms: int | None
    health: str
    last_error: str | None


@dataclass(frozen=True)
class OutboxFill:
    """The whole outbox against nvr-uplink's bound (uplink.outbox_max_rows / _mb)."""

    rows: int
    bytes: int
    max_rows: int
    max_bytes: int

    @property
    def ratio(self) -> float:
        """The fuller of the two bounds, 1.0 when full (nvr-uplink then drops reports)."""
        return max(self.rows / self.max_rows, self.bytes / self.max_bytes)


@dataclass(frozen=True)
class Facts:
    """The inputs of every check, taken at `now_ms`."""

    config: Config
    now_ms: int
    heartbeats: dict[str, Heartbeat]
    segments: dict[str, LastSegment | None]
    validations: dict[str, LastValidation | None]
    destinations: list[Destination]
    probes: ProbeResults
    # Crashes per daemon within health.crash_loop_window_seconds (from daemon_crashed events).
    crashes: dict[str, int]
    outbox: OutboxFill
    # Each daemon's latest load of the config file (nvr.core.configloads).
    config_loads: dict[str, ConfigLoad]
    # When each camera without any segment started its first recording run (start-up grace).
    first_runs: dict[str, int | None]

    def detail(self, daemon: str) -> dict[str, Any]:
        """A daemon's heartbeat detail, empty when it never beat."""
        beat = self.heartbeats.get(daemon)
        return beat.detail if beat else {}


def last_segment(conn: sqlite3.Connection, camera: str) -> LastSegment | None:
    """The camera's newest segment by start time (index segments_camera_start)."""
    row = conn.execute(
        "SELECT start_ms, end_ms FROM segments WHERE camera = ? ORDER BY start_ms DESC LIMIT 1",
        (camera,),
    ).fetchone()
    return LastSegment(row[0], row[1]) if row else None


_STATUS_RANK = "CASE status WHEN 'fail' THEN 2 WHEN 'warn' THEN 1 ELSE 0 END"


def last_validation(conn: sqlite3.Connection, camera: str) -> LastValidation | None:
    """The worst result of the camera's latest validation run (index validations_camera_time)."""
    row = conn.execute(
        f"SELECT status, check_name, reason, checked_at_ms FROM validations WHERE camera = ?"
        f" AND checked_at_ms = (SELECT max(checked_at_ms) FROM validations WHERE camera = ?)"
        f" ORDER BY {_STATUS_RANK} DESC LIMIT 1",
        (camera, camera),
    ).fetchone()
    return LastValidation(row[0], row[1], redact_text(row[2]), row[3]) if row else None


def _oldest_pending_ms(conn: sqlite3.Connection, last_id: int) -> int | None:
    row = conn.execute(
        "SELECT created_at_ms FROM outbox WHERE id > ? ORDER BY id LIMIT 1", (last_id,)
    ).fetchone()
    return int(row[0]) if row else None


def read_destinations(conn: sqlite3.Connection, uplink: dict[str, Any]) -> list[Destination]:
    """Destinations nvr-uplink reports or has a cursor for; the oldest pending is read fresh."""
    reported: dict[str, Any] = uplink.get("destinations", {})
    cursors = dict(conn.execute("SELECT destination, last_id FROM uplink_cursors").fetchall())
    names = sorted(set(reported) | set(cursors))
    result = []
    for name in names:
        info = reported.get(name, {}) if isinstance(reported.get(name), dict) else {}
        error = info.get("last_error")
        result.append(
            Destination(
                name=name,
                backlog=int(info.get("backlog", 0)),
                oldest_pending_ms=_oldest_pending_ms(conn, int(cursors.get(name, 0))),
                health=str(info.get("health", "unknown")),
                last_error=redact_text(str(error)) if error else None,
            )
        )
    return result


def first_run_ms(conn: sqlite3.Connection, camera: str) -> int | None:
    """When the camera's first recording run started (index recording_runs_camera_start)."""
    row = conn.execute(
        "SELECT started_at_ms FROM recording_runs WHERE camera = ? ORDER BY started_at_ms LIMIT 1",
        (camera,),
    ).fetchone()
    return int(row[0]) if row else None


def outbox_fill(conn: sqlite3.Connection, config: Config) -> OutboxFill:
    """Rows and bytes in the outbox: a scan of the covering index outbox_priority.

    About 17 ms at the default bound of 200,000 rows, under 1 ms at a normal backlog of a
    few reports; at most once a second (docs/design/health.md, invariants 1 and 4).
    """
    rows, size = conn.execute("SELECT count(*), coalesce(sum(bytes), 0) FROM outbox").fetchone()
    uplink = config.uplink
    return OutboxFill(int(rows), int(size), uplink.outbox_max_rows, uplink.outbox_max_mb << 20)


def gather(conn: sqlite3.Connection, config: Config, now_ms: int, probes: ProbeResults) -> Facts:
    """Read every fact the checks need, each with one indexed query."""
    heartbeats = read_heartbeats(conn)
    cameras = [c.id for c in config.enabled_cameras]
    uplink = heartbeats.get(UPLINK_DAEMON)
    segments = {camera: last_segment(conn, camera) for camera in cameras}
    return Facts(
        config=config,
        now_ms=now_ms,
        heartbeats=heartbeats,
        segments=segments,
        validations={camera: last_validation(conn, camera) for camera in cameras},
        destinations=read_destinations(conn, uplink.detail if uplink else {}),
        probes=probes,
        outbox=outbox_fill(conn, config),
        crashes=recent_crashes(conn, now_ms - int(config.health.crash_loop_window_seconds * 1000)),
        config_loads=read_config_loads(conn),
        first_runs={c: first_run_ms(conn, c) for c in cameras if segments[c] is None},
    )
