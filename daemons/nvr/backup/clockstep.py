"""Noticing that the wall clock stepped: wall time against the monotonic clock.

NTP correcting a box that booted with a wrong RTC, a technician setting the time, a dead
RTC battery: the wall clock jumps while the monotonic clock does not. Slewing (NTP's
gentle correction, at most 0.5 ms per second) moves the difference slowly and is followed
silently; a jump of STEP_THRESHOLD_MS or more between two looks is a step.
See docs/design/recording.md, invariant 9.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from nvr.core.state import now_ms
from nvr.core.timeutil import format_ms

# Coverage joins segments within 2 s (CONTINUITY_TOLERANCE_MS); a step of half that is
# already worth a run boundary, and no slew moves the clock that far between two ticks.
STEP_THRESHOLD_MS = 1_000


@dataclass(frozen=True)
class ClockStep:
    """One step of the wall clock."""

    step_ms: int  # positive: forwards, negative: backwards
    expected_ms: int  # what the wall clock would read now had it not stepped
    now_ms: int  # what it reads

    def describe(self) -> str:
        """`wall clock stepped back 3600.0 s (from <expected> to <now>)`, for events and logs."""
        direction = "forward" if self.step_ms > 0 else "back"
        return (
            f"wall clock stepped {direction} {abs(self.step_ms) / 1000:.1f} s "
            f"(from {format_ms(self.expected_ms)} to {format_ms(self.now_ms)})"
        )


class ClockWatch:
    """Compares the wall clock with the monotonic clock at each look."""

    def __init__(
        self,
        wall_ms: Callable[[], int] = now_ms,
        monotonic_ms: Callable[[], int] = lambda: time.monotonic_ns() // 1_000_000,
    ) -> None:
        self._wall_ms = wall_ms
        self._monotonic_ms = monotonic_ms
        self._offset_ms = wall_ms() - monotonic_ms()

    def check(self) -> ClockStep | None:
        """The step since the last look, or None."""
        mono, wall = self._monotonic_ms(), self._wall_ms()
        offset = wall - mono
        drift = offset - self._offset_ms
        expected = mono + self._offset_ms
        self._offset_ms = offset  # follow slewing; a step is reported once
        if abs(drift) < STEP_THRESHOLD_MS:
            return None
        return ClockStep(step_ms=drift, expected_ms=expected, now_ms=wall)
