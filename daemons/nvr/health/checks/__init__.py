"""The registry of health checks; each lives in its own module."""

from __future__ import annotations

from nvr.health.checks.base import HealthCheck
from nvr.health.checks.cameras import CamerasCheck
from nvr.health.checks.clock import ClockCheck
from nvr.health.checks.config import ConfigCheck
from nvr.health.checks.daemons import DaemonsCheck
from nvr.health.checks.disk import DiskCheck
from nvr.health.checks.mediamtx import MediamtxCheck
from nvr.health.checks.outbox import OutboxCheck
from nvr.health.checks.uplink import UplinkCheck
from nvr.health.facts import Facts
from nvr.health.model import CheckResult, HealthReport

CHECKS: tuple[HealthCheck, ...] = (
    DaemonsCheck(),
    ConfigCheck(),
    CamerasCheck(),
    DiskCheck(),
    UplinkCheck(),
    OutboxCheck(),
    MediamtxCheck(),
    ClockCheck(),
)


def run_checks(
    facts: Facts, checks: tuple[HealthCheck, ...] = CHECKS
) -> tuple[HealthReport, dict[str, str]]:
    """Run every check that applies; returns the report and why the others were skipped."""
    results: list[CheckResult] = []
    skipped: dict[str, str] = {}
    for check in checks:
        why_not = check.applies(facts)
        if why_not is not None:
            skipped[check.name] = why_not
            continue
        results.extend(check.run(facts))
    return HealthReport(results, facts.now_ms), skipped
