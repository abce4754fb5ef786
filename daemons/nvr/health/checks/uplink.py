"""Uplink: per destination, the age of the oldest pending report, backlog, circuit state."""

from __future__ import annotations

from nvr.health.checks.base import age_seconds
from nvr.health.facts import Destination, Facts
from nvr.health.model import CheckResult, Severity


def _judge(dest: Destination, facts: Facts) -> tuple[Severity, str, float]:
    health = facts.config.health
    age = 0.0 if dest.oldest_pending_ms is None else age_seconds(facts, dest.oldest_pending_ms)
    cause = f"; last error: {dest.last_error}" if dest.last_error else ""
    if age > health.uplink_critical_seconds:
        severity = Severity.CRITICAL
    elif age > health.uplink_warning_seconds:
        severity = Severity.WARNING
    elif dest.health.startswith("circuit"):
        return Severity.WARNING, f"{dest.name}: {dest.health}{cause}", age
    else:
        return Severity.OK, "", age
    reason = (
        f"{dest.name}: oldest pending report is {age / 60:.0f} min old ({dest.backlog} waiting,"
        f" {dest.health}){cause}: check the WAN link and the destination"
    )
    return severity, reason, age


class UplinkCheck:
    """One result per uplink destination."""

    name = "uplink"

    def applies(self, facts: Facts) -> str | None:
        """When nvr-uplink has (or had) a destination."""
        return None if facts.destinations else "no uplink destination has reported yet"

    def run(self, facts: Facts) -> list[CheckResult]:
        """Age of the oldest report waiting for each destination against the thresholds."""
        results = []
        for dest in facts.destinations:
            severity, reason, age = _judge(dest, facts)
            data = {
                "backlog": dest.backlog,
                "oldest_pending_age_s": round(age, 1),
                "circuit": dest.health,
            }
            results.append(CheckResult(f"uplink:{dest.name}", severity, reason, data))
        return results
