"""Daemons: heartbeat age against the promised interval, lifecycle state, systemd unit state."""

from __future__ import annotations

from nvr.health.checks.base import age_seconds
from nvr.health.constants import DAEMON_NAME
from nvr.health.facts import Facts, Heartbeat
from nvr.health.model import CheckResult, Severity

_STOPPED = ("stopping", "stopped")


def _missing(name: str, required: bool) -> CheckResult:
    severity = Severity.CRITICAL if required else Severity.WARNING
    reason = (
        f"{name} has never written a heartbeat: not installed or never started"
        f" (systemctl status {name})"
    )
    return CheckResult(f"daemon:{name}", severity, reason, {"state": "missing"})


def _problem(beat: Heartbeat, facts: Facts, age: float, unit: str | None) -> str:
    """Why a daemon is not healthy, or "" when it is."""
    limit = beat.interval_ms / 1000 * facts.config.health.heartbeat_stale_factor
    if beat.state in _STOPPED:
        return f"{beat.daemon} is {beat.state} (systemctl start {beat.daemon})"
    if not beat.alive:
        return (
            f"{beat.daemon} (pid {beat.pid}) is gone: crashed or killed"
            f" (journalctl -u {beat.daemon}, or supervisorctl status)"
        )
    hold = facts.config.health.crash_hold_seconds
    if beat.crashed_at_ms is not None and age_seconds(facts, beat.crashed_at_ms) < hold:
        ago = age_seconds(facts, beat.crashed_at_ms)
        return (
            f"{beat.daemon} was killed or crashed and restarted {ago:.0f} s ago"
            f" (journalctl -u {beat.daemon}; held critical for {hold:g} s)"
        )
    if unit is not None and not unit.startswith("active"):
        return f"systemd unit {beat.daemon}.service is {unit} (journalctl -u {beat.daemon})"
    if age > limit:
        return (
            f"heartbeat {age:.0f} s old, expected every {beat.interval_ms / 1000:g} s:"
            f" {beat.daemon} hung or crashed (journalctl -u {beat.daemon})"
        )
    return ""


def _check(beat: Heartbeat, facts: Facts, required: bool) -> CheckResult:
    age = age_seconds(facts, beat.updated_at_ms)
    unit = facts.probes.systemd.get(beat.daemon)
    data: dict[str, object] = {
        "state": beat.state,
        "status_line": beat.status,
        "heartbeat_age_s": round(age, 1),
        "interval_s": beat.interval_ms / 1000,
    }
    if unit is not None:
        data["systemd"] = unit
    problem = _problem(beat, facts, age, unit)
    if problem:
        return CheckResult(
            f"daemon:{beat.daemon}",
            Severity.CRITICAL if required else Severity.WARNING,
            problem,
            data,
        )
    if beat.state == "degraded":
        reason = f"{beat.daemon} degraded: {beat.status or 'see its log'}"
        return CheckResult(f"daemon:{beat.daemon}", Severity.WARNING, reason, data)
    return CheckResult(f"daemon:{beat.daemon}", Severity.OK, "", data)


class DaemonsCheck:
    """Each required daemon, and any other daemon that writes heartbeats."""

    name = "daemons"

    def applies(self, facts: Facts) -> str | None:
        """Always: the daemons are the box."""
        return None

    def run(self, facts: Facts) -> list[CheckResult]:
        """One result per daemon, required ones first."""
        required = facts.config.health.daemons
        others = sorted(set(facts.heartbeats) - set(required) - {DAEMON_NAME})
        results = []
        for name in (*required, *others):
            beat = facts.heartbeats.get(name)
            is_required = name in required
            results.append(
                _missing(name, is_required) if beat is None else _check(beat, facts, is_required)
            )
        return results
