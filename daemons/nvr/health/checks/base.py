"""What every health check looks like (Home Assistant Supervisor style).

A check is a small class in its own module: it says when it applies and, when it does,
returns one result per thing it watches (one per daemon, one per camera, ...).
"""

from __future__ import annotations

from typing import Protocol

from nvr.health.facts import Facts
from nvr.health.model import CheckResult


class HealthCheck(Protocol):
    """One kind of check."""

    name: str

    def applies(self, facts: Facts) -> str | None:
        """None when the check applies, else why not (shown as "skipped" in /health)."""

    def run(self, facts: Facts) -> list[CheckResult]:
        """The findings; called only when the check applies."""


def age_seconds(facts: Facts, at_ms: int) -> float:
    """Seconds between `at_ms` and the facts' time, never negative."""
    return max(0.0, (facts.now_ms - at_ms) / 1000)
