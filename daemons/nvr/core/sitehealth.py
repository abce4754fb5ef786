"""What head office learns of a box's health in each status report (issue 24).

nvr-health publishes its verdict (overall status and the failing checks with their reasons)
in its heartbeat detail; nvr-report copies it into the status body, with recording
coverage over windows that mean something (the last hour, the last 24 h) and the dropouts
in them. Both daemons import this, neither imports the other.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from nvr.core.causes import is_dropout
from nvr.core.heartbeats import Heartbeat
from nvr.core.service import CRASH_EVENT_KIND
from nvr.core.tables.recordings import GAP_IN_PROGRESS, coverage

HEALTH_DAEMON = "nvr-health"
# Failing checks carried per report: a box with everything broken names the worst first.
MAX_FAILING = 20
WINDOWS_MS = {"1h": 3_600_000, "24h": 86_400_000}


def recent_crashes(conn: sqlite3.Connection, since_ms: int) -> dict[str, int]:
    """Crashes per daemon since `since_ms` (index events_time: the window is short)."""
    rows = conn.execute(
        "SELECT source, count(*) FROM events WHERE created_at_ms >= ? AND kind = ? GROUP BY source",
        (since_ms, CRASH_EVENT_KIND),
    ).fetchall()
    return {str(row[0]): int(row[1]) for row in rows}


def verdict_detail(status: str, failing: list[dict[str, Any]]) -> dict[str, Any]:
    """The part of nvr-health's heartbeat detail that status reports carry."""
    return {"verdict": status, "failing": failing[:MAX_FAILING]}


def health_of(beats: dict[str, Heartbeat], now_ms: int, stale_factor: float) -> dict[str, Any]:
    """The box's /health verdict as nvr-health last published it (redacted by the reader)."""
    beat = beats.get(HEALTH_DAEMON)
    if beat is None or "verdict" not in beat.detail:
        return {"status": "unknown", "reason": "nvr-health has not published a verdict"}
    summary = beat.summary(now_ms, stale_factor)
    if summary["stale"]:
        return {"status": "unknown", "reason": f"nvr-health silent for {summary['age_seconds']} s"}
    return {"status": beat.detail["verdict"], "failing": beat.detail.get("failing", [])}


def coverage_windows(conn: sqlite3.Connection, camera: str, now_ms: int) -> dict[str, Any]:
    """Percent recorded and dropouts over each window; the open segment is not missing."""
    out: dict[str, Any] = {}
    for name, span in WINDOWS_MS.items():
        result = coverage(conn, camera, now_ms - span, now_ms)
        open_ms = sum(g.end_ms - g.start_ms for g in result.gaps if g.reason == GAP_IN_PROGRESS)
        expected = span - open_ms
        out[name] = {
            "percent": round(100 * result.recorded_ms / expected, 2) if expected > 0 else 100.0,
            "dropouts": sum(1 for g in result.gaps if is_dropout(g.reason)),
        }
    return out
