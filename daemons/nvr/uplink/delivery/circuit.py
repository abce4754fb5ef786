"""Per-destination circuit breaker (docs/design/outbox.md, "Procedures")."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum


class CircuitState(StrEnum):
    """Closed: requests flow. Open: none until the wait ends. Half-open: one trial."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


@dataclass
class CircuitBreaker:
    """Counts consecutive failures; past `threshold` it opens for `open_seconds`."""

    threshold: int
    open_seconds: float
    clock: Callable[[], float]
    failures: int = 0
    _opened_until: float | None = field(default=None, repr=False)

    @property
    def state(self) -> CircuitState:
        """The state now."""
        if self._opened_until is None:
            return CircuitState.CLOSED
        if self.clock() < self._opened_until:
            return CircuitState.OPEN
        return CircuitState.HALF_OPEN

    def remaining(self) -> float:
        """Seconds until an open circuit lets a trial through (0 when not open)."""
        if self._opened_until is None:
            return 0.0
        return max(0.0, self._opened_until - self.clock())

    def failed(self) -> bool:
        """Count a failure; return True when this failure opened (or re-opened) the circuit."""
        self.failures += 1
        if self.failures >= self.threshold:
            self._opened_until = self.clock() + self.open_seconds
            return True
        return False

    def succeeded(self) -> None:
        """Close the circuit."""
        self.failures = 0
        self._opened_until = None
