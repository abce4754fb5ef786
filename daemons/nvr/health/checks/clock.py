"""clock: whether the box's clock is synchronised (evidence timestamps depend on it)."""

from __future__ import annotations

from nvr.core.timesync import SyncState
from nvr.health.facts import Facts
from nvr.health.model import CheckResult, Severity


class ClockCheck:
    """A warning when the time service says the clock is not synchronised."""

    name = "clock"

    def applies(self, facts: Facts) -> str | None:
        """Once the tick has probed the time service."""
        if facts.probes.time_sync is None:
            return "time service not probed yet"
        return None

    def run(self, facts: Facts) -> list[CheckResult]:
        """Warning when unsynchronised; "unknown" is shown, not alarmed on.

        Unknown is the normal answer in a container (the host keeps the time) and on a
        box without systemd or chrony; a warning there would be noise on every site.
        """
        sync = facts.probes.time_sync
        assert sync is not None  # applies() said so
        data = sync.to_json()
        if sync.state is SyncState.UNSYNCHRONISED:
            reason = (
                f"clock not synchronised ({sync.detail}): recording timestamps may be wrong;"
                " check NTP (timedatectl timesync-status, chronyc sources)"
            )
            return [CheckResult("clock", Severity.WARNING, reason, data)]
        return [CheckResult("clock", Severity.OK, "", data)]
