"""What a check returns and how the results add up to one answer."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Severity(StrEnum):
    """How bad a check's finding is; a critical one makes /health answer 503."""

    OK = "ok"
    WARNING = "warning"
    CRITICAL = "critical"


class Overall(StrEnum):
    """The answer's overall status."""

    HEALTHY = "healthy"
    DEGRADED = "degraded"
    UNHEALTHY = "unhealthy"


_RANK = {Severity.OK: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}


@dataclass(frozen=True)
class CheckResult:
    """One finding: `camera:cam03` is critical because "no new segment for 312 s"."""

    name: str
    severity: Severity
    reason: str = ""
    data: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The JSON shape of one check in /health."""
        body: dict[str, Any] = {"name": self.name, "status": str(self.severity)}
        if self.reason:
            body["reason"] = self.reason
        body.update(self.data)
        return body


def worst(severities: list[Severity]) -> Severity:
    """The worst of `severities` (OK when empty)."""
    return max(severities, key=_RANK.__getitem__, default=Severity.OK)


@dataclass(frozen=True)
class HealthReport:
    """Every check's result and the overall verdict."""

    results: list[CheckResult]
    checked_at_ms: int

    @property
    def overall(self) -> Overall:
        """Unhealthy on any critical finding, degraded on any warning."""
        severity = worst([r.severity for r in self.results])
        if severity is Severity.CRITICAL:
            return Overall.UNHEALTHY
        return Overall.DEGRADED if severity is Severity.WARNING else Overall.HEALTHY

    @property
    def http_status(self) -> int:
        """200 unless a critical check failed."""
        return 503 if self.overall is Overall.UNHEALTHY else 200

    def failing(self) -> list[CheckResult]:
        """The results that are not OK, worst first."""
        bad = [r for r in self.results if r.severity is not Severity.OK]
        return sorted(bad, key=lambda r: -_RANK[r.severity])
