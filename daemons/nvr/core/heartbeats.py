"""Reading the heartbeat rows every daemon writes (nvr.core.service.write_heartbeat).

One reader for every consumer (nvr-health, `nvrctl status`, nvr-report, the MQTT status),
so that all of them redact the same way (docs/design/health.md, invariant 5) and call a
daemon "stale" by the same rule: older than `health.heartbeat_stale_factor` promised
intervals (invariant 7).
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

import psutil

from nvr.core.redact import redact_text

# The daemon whose heartbeat says mediamtx is ours to probe and to count viewers of.
LIVESTREAM_DAEMON = "nvr-livestream"


@dataclass(frozen=True)
class Heartbeat:
    """One daemon's heartbeat row; status and detail strings are redacted."""

    daemon: str
    pid: int
    state: str
    status: str
    detail: dict[str, Any]
    started_at_ms: int
    updated_at_ms: int
    interval_ms: int
    # False when the process that wrote the row no longer exists (killed, crashed): under
    # supervisord a killed daemon is back within seconds and its heartbeat never goes
    # stale, so this is how /health sees the crash. All daemons share one PID namespace
    # (one box, or one container), so the pid is meaningful here.
    alive: bool = True
    crashed_at_ms: int | None = None  # set by the runtime after an unclean predecessor

    def stale_after_seconds(self, stale_factor: float) -> float:
        """How old the row may get before the daemon counts as hung or gone."""
        return self.interval_ms / 1000 * stale_factor

    def summary(self, now_ms: int, stale_factor: float) -> dict[str, Any]:
        """State, STATUS line, age and staleness (for reports and the MQTT status)."""
        age_seconds = (now_ms - self.updated_at_ms) / 1000
        return {
            "state": self.state,
            "status": self.status,
            "age_seconds": round(age_seconds, 1),
            "stale": age_seconds > self.stale_after_seconds(stale_factor),
        }


def redact_tree(value: Any) -> Any:
    """`value` with every string passed through redact_text (answers carry no secret)."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {key: redact_tree(item) for key, item in value.items()}
    if isinstance(value, list):
        return [redact_tree(item) for item in value]
    return value


def _detail(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return redact_tree(value) if isinstance(value, dict) else {}


def read_heartbeats(conn: sqlite3.Connection) -> dict[str, Heartbeat]:
    """Every heartbeat row by daemon, status lines and details redacted.

    They may quote a camera URL (docs/design/health.md, invariant 5).
    """
    rows = conn.execute(
        "SELECT daemon, pid, state, status, detail_json, started_at_ms, updated_at_ms,"
        " interval_ms, crashed_at_ms FROM heartbeats"
    ).fetchall()
    return {
        row[0]: Heartbeat(
            row[0],
            row[1],
            row[2],
            redact_text(row[3]),
            _detail(row[4]),
            row[5],
            row[6],
            row[7],
            alive=psutil.pid_exists(row[1]),
            crashed_at_ms=row[8],
        )
        for row in rows
    }


def livestream_in_use(conn: sqlite3.Connection) -> bool:
    """True once nvr-livestream has beaten on this box: its mediamtx is then worth probing."""
    row = conn.execute("SELECT 1 FROM heartbeats WHERE daemon = ?", (LIVESTREAM_DAEMON,)).fetchone()
    return row is not None
