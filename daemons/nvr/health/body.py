"""The /health body, built in one place for nvr-health's endpoint and `nvrctl status --json`.

Both answer from the same verdict (`Sources.report()`), so a field added here shows in
both, and the NOC and a technician never read two shapes of the same state.
"""

from __future__ import annotations

from typing import Any

from nvr import __version__
from nvr.core.config import Config
from nvr.health.model import HealthReport


def health_body(config: Config, report: HealthReport, skipped: dict[str, str]) -> dict[str, Any]:
    """The verdict, what fails, every check's result and the checks that did not apply."""
    return {
        "status": str(report.overall),
        "site": config.site.id,
        "version": __version__,
        "checked_at_ms": report.checked_at_ms,
        "failing": [r.to_json() for r in report.failing()],
        "checks": [r.to_json() for r in report.results],
        "skipped": skipped,
    }


def unavailable_body(err: Exception) -> dict[str, Any]:
    """The body when the state file cannot be read: critical, and says why."""
    return {
        "status": "unhealthy",
        "failing": [
            {"name": "state", "status": "critical", "reason": f"state file unreadable: {err}"}
        ],
    }
