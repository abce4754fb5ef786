"""Keeping nvr-validator to its share of the CPU: recording comes first.

On a 2-core box the recorder must win. Checks from recordings are cheap (~15 ms of CPU
each) but a round of 32 run back to back would still take a core for a moment; the pacer
holds back the next check until the round's CPU, that check included, is within `share`
of a core over the round's wall time (docs/design/validation.md, invariant 10).
"""

from __future__ import annotations

import resource
import threading
import time
from collections.abc import Callable


def process_cpu_seconds() -> float:
    """CPU of this process (all threads) plus its finished children (ffprobe, ffmpeg)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


class Pacer:
    """Holds back each check until the round, that check included, stays within `share`.

    The next check's cost is taken as the mean of the checks let go so far.
    """

    def __init__(
        self,
        share: float,
        cpu: Callable[[], float] = process_cpu_seconds,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._share = share
        self._cpu = cpu
        self._clock = clock
        self._cpu0 = cpu()
        self._wall0 = clock()
        self._started = 0

    def delay(self) -> float:
        """Seconds to wait before the next check: (CPU so far + its cost) / share - wall."""
        used = self._cpu() - self._cpu0
        expected = used / self._started if self._started else 0.0
        return max(0.0, (used + expected) / self._share - (self._clock() - self._wall0))

    def wait(self, stop: threading.Event) -> None:
        """Wait out `delay()` (at once when `stop` is set), then count the check as started."""
        stop.wait(self.delay())
        self._started += 1
