"""Daemons: heartbeat age, lifecycle, systemd unit, crashes (docs/design/health.md, inv. 6)."""

from __future__ import annotations

from nvr.core.configloads import ConfigLoad
from nvr.core.heartbeats import Heartbeat
from nvr.health.checks.base import age_seconds
from nvr.health.checks.config import refusal
from nvr.health.constants import DAEMON_NAME
from nvr.health.facts import Facts
from nvr.health.model import CheckResult, Severity

_STOPPED = ("stopping", "stopped")


def _refused_reason(daemon: str, error: str | None) -> str:
    """Not "crashed or killed": the supervisor restarts it and the file stops it again."""
    return f"config invalid: {error}: {daemon} cannot start (fix it, then `nvrctl config apply`)"


def _missing(name: str, required: bool, refused: ConfigLoad | None) -> CheckResult:
    severity = Severity.CRITICAL if required else Severity.WARNING
    reason = (
        f"{name} has never written a heartbeat: not installed or never started"
        f" (systemctl status {name})"
    )
    if refused is not None:
        reason = _refused_reason(name, refused.error)
    return CheckResult(f"daemon:{name}", severity, reason, {"state": "missing"})


Problem = tuple[Severity, str]


def _crash_loop(beat: Heartbeat, facts: Facts) -> Problem | None:
    """Critical once a daemon crashed `crash_loop_count` times within the window."""
    health = facts.config.health
    crashes = facts.crashes.get(beat.daemon, 0)
    if crashes < health.crash_loop_count:
        return None
    minutes = health.crash_loop_window_seconds / 60
    return Severity.CRITICAL, (
        f"{beat.daemon} crash loop: crashed {crashes} times in the last {minutes:g} min"
        f" (journalctl -u {beat.daemon})"
    )


def _gone(beat: Heartbeat, age: float, limit: float) -> Problem:
    """A vanished process is a warning while its supervisor may still bring it back."""
    if age > limit:
        return Severity.CRITICAL, (
            f"{beat.daemon} (pid {beat.pid}) is gone and did not come back for {age:.0f} s:"
            f" crashed or killed (journalctl -u {beat.daemon}, or supervisorctl status)"
        )
    return Severity.WARNING, (
        f"{beat.daemon} (pid {beat.pid}) is gone: crashed or killed, waiting for its"
        f" supervisor to restart it (journalctl -u {beat.daemon})"
    )


def _recent_crash(beat: Heartbeat, facts: Facts) -> Problem | None:
    """A crash its supervisor already repaired: worth a look, not a page."""
    hold = facts.config.health.crash_hold_seconds
    if beat.crashed_at_ms is None or age_seconds(facts, beat.crashed_at_ms) >= hold:
        return None
    ago = age_seconds(facts, beat.crashed_at_ms)
    return Severity.WARNING, (
        f"{beat.daemon} was killed or crashed and restarted {ago:.0f} s ago"
        f" (journalctl -u {beat.daemon})"
    )


def _problem(beat: Heartbeat, facts: Facts, age: float, unit: str | None) -> Problem | None:
    """How bad and why a daemon is not healthy, or None when it is (worst first)."""
    limit = beat.stale_after_seconds(facts.config.health.heartbeat_stale_factor)
    if beat.state in _STOPPED:
        return Severity.CRITICAL, f"{beat.daemon} is {beat.state} (systemctl start {beat.daemon})"
    loop = _crash_loop(beat, facts)
    if loop is not None:
        return loop
    if not beat.alive:
        severity, reason = _gone(beat, age, limit)
        refused = refusal(facts, beat.daemon)
        if refused is not None and refused.at_ms >= beat.started_at_ms:
            reason = _refused_reason(beat.daemon, refused.error)
        return severity, reason
    if unit is not None and not unit.startswith("active"):
        return Severity.CRITICAL, (
            f"systemd unit {beat.daemon}.service is {unit} (journalctl -u {beat.daemon})"
        )
    if age > limit:
        return Severity.CRITICAL, (
            f"heartbeat {age:.0f} s old, expected every {beat.interval_ms / 1000:g} s:"
            f" {beat.daemon} hung or crashed (journalctl -u {beat.daemon})"
        )
    return _recent_crash(beat, facts)


def _check(beat: Heartbeat, facts: Facts, required: bool) -> CheckResult:
    age = age_seconds(facts, beat.updated_at_ms)
    unit = facts.probes.systemd.get(beat.daemon)
    data: dict[str, object] = {
        "state": beat.state,
        "status_line": beat.status,
        "heartbeat_age_s": round(age, 1),
        "interval_s": beat.interval_ms / 1000,
        "recent_crashes": facts.crashes.get(beat.daemon, 0),
    }
    if unit is not None:
        data["systemd"] = unit
    problem = _problem(beat, facts, age, unit)
    if problem is not None:
        severity, reason = problem
        # A daemon the box can do without never pages (health.daemons lists the others).
        if not required:
            severity = Severity.WARNING
        return CheckResult(f"daemon:{beat.daemon}", severity, reason, data)
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
            if beat is not None:
                results.append(_check(beat, facts, is_required))
                continue
            results.append(_missing(name, is_required, refusal(facts, name)))
        return results
