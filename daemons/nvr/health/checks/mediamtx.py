"""mediamtx: whether its control API answered the tick's last probe."""

from __future__ import annotations

from nvr.health.checks.base import age_seconds
from nvr.health.constants import LIVESTREAM_DAEMON, PROBE_MAX_AGE_SECONDS
from nvr.health.facts import Facts
from nvr.health.model import CheckResult, Severity


def livestream_down(facts: Facts) -> bool:
    """nvr-livestream missing, stopped, gone or silent past its stale limit."""
    beat = facts.heartbeats.get(LIVESTREAM_DAEMON)
    if beat is None:
        return True
    limit = beat.interval_ms / 1000 * facts.config.health.heartbeat_stale_factor
    stale = age_seconds(facts, beat.updated_at_ms) > limit
    return not beat.alive or beat.state in ("stopping", "stopped") or stale


def unreachable_reason(detail: str, facts: Facts) -> str:
    """Name the unit to look at: mediamtx's API calls are authorised by nvr-livestream.

    mediamtx asks nvr-livestream's auth callback about every API request
    (docs/design/livestream.md), so with nvr-livestream down mediamtx answers 401 and
    "systemctl status mediamtx" would send the technician to a healthy program.
    """
    if livestream_down(facts):
        return (
            f"{detail}: live view down because {LIVESTREAM_DAEMON} (mediamtx's auth callback)"
            f" is down (systemctl status {LIVESTREAM_DAEMON})"
        )
    return f"{detail}: live view down (systemctl status mediamtx)"


class MediamtxCheck:
    """Live view depends on mediamtx; its API is probed off the request path."""

    name = "mediamtx"

    def applies(self, facts: Facts) -> str | None:
        """When health.mediamtx_check is `always`, or `auto` and nvr-livestream runs."""
        if facts.probes.mediamtx is None:
            return "not configured: live view not in use (health.mediamtx_check)"
        return None

    def run(self, facts: Facts) -> list[CheckResult]:
        """Critical when the API did not answer: viewers get no picture."""
        probe = facts.probes.mediamtx
        assert probe is not None  # applies() said so
        age = age_seconds(facts, probe.probed_at_ms)
        data = {"reachable": probe.reachable, "probe_age_s": round(age, 1)}
        if age > PROBE_MAX_AGE_SECONDS:
            reason = f"mediamtx not probed for {age:.0f} s: nvr-health's tick is stuck"
            return [CheckResult("mediamtx", Severity.WARNING, reason, data)]
        if not probe.reachable:
            reason = unreachable_reason(probe.detail, facts)
            return [CheckResult("mediamtx", Severity.CRITICAL, reason, data)]
        return [CheckResult("mediamtx", Severity.OK, "", data)]
