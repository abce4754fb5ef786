"""Exponential back-off with a cap, for reconnects and retries.

The recorder's defaults and alerts: docs/design/recording.md, invariant 11.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class Backoff:
    """Delay before the next attempt after `failures` consecutive failures.

    `jitter` spreads retries of many cameras (or destinations) that failed together, so
    they do not all hit a recovering switch or receiver in the same second.
    """

    initial: float
    factor: float
    maximum: float
    jitter: float = 0.0
    failures: int = 0
    _rng: random.Random = field(default_factory=random.Random, repr=False)

    def failed(self) -> float:
        """Count a failure; return the delay before the next attempt, in seconds."""
        self.failures += 1
        delay = min(self.maximum, self.initial * self.factor ** (self.failures - 1))
        if self.jitter:
            delay *= 1 + self._rng.uniform(-self.jitter, self.jitter)
        return delay

    def succeeded(self) -> None:
        """Reset after a success."""
        self.failures = 0
