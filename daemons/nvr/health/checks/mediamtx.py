"""mediamtx: whether its control API answered the tick's last probe."""

from __future__ import annotations

from nvr.health.checks.base import age_seconds
from nvr.health.constants import PROBE_MAX_AGE_SECONDS
from nvr.health.facts import Facts
from nvr.health.model import CheckResult, Severity


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
            reason = f"{probe.detail}: live view down (systemctl status mediamtx)"
            return [CheckResult("mediamtx", Severity.CRITICAL, reason, data)]
        return [CheckResult("mediamtx", Severity.OK, "", data)]
