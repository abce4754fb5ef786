"""What the pages show of a report body, read defensively.

Bodies come from the field and are not validated beyond being JSON objects (a receiver
must not refuse a report because a newer site added a key): every read here tolerates a
missing or odd value and shows "?" rather than failing the page.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from nvr_headoffice.constants import RESTART_LOOP_CRASHES

# The coverage windows a status report gives per camera (issue 24).
WINDOWS = ("1h", "24h")
DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
MAX_CAMERA_ID = 64


@dataclass(frozen=True)
class CameraLine:
    """One camera of a status report."""

    id: str
    name: str
    state: str
    recorded_percent: float | None
    failing_checks: list[str]
    # Percent recorded over the last "1h" and "24h" (None: an older box did not send it).
    windows: dict[str, float | None] = field(default_factory=dict)
    dropouts_1h: int | None = None


@dataclass(frozen=True)
class StatusSummary:
    """The headline of a status report: cameras recording, disk, uplink backlog."""

    recording: int = 0
    cameras: int = 0
    disk_percent: float | None = None
    backlog: dict[str, int] = field(default_factory=dict)
    stale_daemons: list[str] = field(default_factory=list)
    camera_lines: list[CameraLine] = field(default_factory=list)
    # The box's /health verdict and the reasons of what fails (nvr.core.sitehealth).
    health: str = "unknown"
    failing: list[str] = field(default_factory=list)
    # `nvr-backup crashed 4 times`: daemons in a restart loop.
    restart_loops: list[str] = field(default_factory=list)
    # The lowest percent recorded among the cameras over "1h" and "24h" (None: not sent).
    worst: dict[str, float | None] = field(default_factory=dict)

    def headline(self) -> dict[str, Any]:
        """Everything but the camera lines, as JSON: what the fleet page keeps per site."""
        return {
            "recording": self.recording,
            "cameras": self.cameras,
            "disk_percent": self.disk_percent,
            "backlog": self.backlog,
            "stale_daemons": self.stale_daemons,
            "health": self.health,
            "failing": self.failing,
            "restart_loops": self.restart_loops,
            "worst": self.worst,
        }

    @classmethod
    def from_headline(cls, data: dict[str, Any]) -> StatusSummary:
        """The summary `headline()` wrote (camera lines left out)."""
        return cls(**data)

    @property
    def all_recording(self) -> bool:
        """Every enabled camera recording."""
        return self.recording == self.cameras

    @property
    def backlog_text(self) -> str:
        """`head_office 0, hse_api 3`: reports waiting at the site, per destination."""
        return ", ".join(f"{name} {pending}" for name, pending in self.backlog.items()) or "-"


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _number(value: Any) -> float | None:
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    return float(value) if is_number else None


def _camera_line(camera: dict[str, Any]) -> CameraLine:
    failing = [
        str(check.get("check", "?"))
        for check in map(_dict, _list(camera.get("validation")))
        if check.get("status") == "fail"
    ]
    windows = _dict(camera.get("windows"))
    dropouts = _number(_dict(windows.get("1h")).get("dropouts"))
    return CameraLine(
        id=str(camera.get("id", "?")),
        name=str(camera.get("name") or ""),
        state=str(_dict(camera.get("recording")).get("state", "unknown")),
        recorded_percent=_number(_dict(camera.get("coverage")).get("percent")),
        failing_checks=failing,
        windows={name: _number(_dict(windows.get(name)).get("percent")) for name in WINDOWS},
        dropouts_1h=None if dropouts is None else int(dropouts),
    )


def _lowest(values: Iterable[float | None]) -> float | None:
    known = [value for value in values if value is not None]
    return min(known) if known else None


def _failing(health: dict[str, Any]) -> list[str]:
    """`camera:cam02: no new segment for 300 s ...`, worst first as the box sent them."""
    lines = [
        f"{item.get('name', '?')}: {item.get('reason', '')}"
        for item in map(_dict, _list(health.get("failing")))
    ]
    if not lines and health.get("reason"):
        lines.append(str(health["reason"]))
    return lines


def _restart_loops(daemons: list[Any]) -> list[str]:
    loops = []
    for daemon in map(_dict, daemons):
        crashes = _number(daemon.get("recent_crashes")) or 0
        if crashes >= RESTART_LOOP_CRASHES:
            loops.append(f"{daemon.get('daemon', '?')} crashed {crashes:.0f} times")
    return loops


def status_summary(body: dict[str, Any]) -> StatusSummary:
    """Headline numbers of a status body (docs/design/outbox.md, "The envelope")."""
    cameras = [_dict(c) for c in _list(body.get("cameras")) if _dict(c).get("enabled", True)]
    lines = [_camera_line(camera) for camera in cameras]
    disk = _dict(body.get("disk"))
    backlog = {
        str(name): int(pending)
        for name, queue in _dict(body.get("uplink")).items()
        if (pending := _number(_dict(queue).get("pending"))) is not None
    }
    stale = [
        str(d.get("daemon", "?")) for d in map(_dict, _list(body.get("daemons"))) if d.get("stale")
    ]
    health = _dict(body.get("health"))
    return StatusSummary(
        worst={window: _lowest(line.windows.get(window) for line in lines) for window in WINDOWS},
        health=str(health.get("status", "unknown")),
        failing=_failing(health),
        restart_loops=_restart_loops(_list(body.get("daemons"))),
        recording=sum(1 for line in lines if line.state == "recording"),
        cameras=len(lines),
        disk_percent=_number(disk.get("percent")),
        backlog=backlog,
        stale_daemons=stale,
        camera_lines=lines,
    )


def camera_days(body: dict[str, Any], created_at: str) -> list[tuple[str, str, float]]:
    """(camera id, UTC day, percent recorded) of a status report's period, per camera.

    The day is the period's start (`2026-11-21`), else the report's creation; a camera
    without a percent is left out (an older box, or a camera not measured).
    """
    start = str(_dict(body.get("period")).get("from") or created_at)
    day = start[:10]
    if not DAY.fullmatch(day):
        return []
    lines = status_summary(body).camera_lines
    return [
        (line.id[:MAX_CAMERA_ID], day, line.recorded_percent)
        for line in lines
        if line.recorded_percent is not None
    ]


def report_line(kind: str, body: dict[str, Any]) -> str:
    """One line describing a report in the per-site list."""
    if "message" in body:
        return str(body["message"])
    if kind == "status" or "cameras" in body:
        status = status_summary(body)
        disk = "?" if status.disk_percent is None else f"{status.disk_percent:.0f}%"
        return f"{status.recording}/{status.cameras} cameras recording, disk {disk}"
    return ""
