"""The live state the viewer API shows: per camera available, readers, inbound bitrate.

The daemon's loop polls mediamtx and publishes an immutable snapshot; API requests read the
latest snapshot and never wait on mediamtx.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from nvr.livestream.mediamtx import LivePath


@dataclass(frozen=True)
class PathState:
    """One path as a viewer sees it."""

    available: bool
    readers: int
    inbound_bitrate_bps: int


@dataclass(frozen=True)
class LiveSnapshot:
    """Everything mediamtx said at one poll; `mediamtx_up` false when it did not answer."""

    mediamtx_up: bool = False
    paths: dict[str, PathState] = field(default_factory=dict)


class BitrateMeter:
    """Turns mediamtx's byte counters into bits per second between two polls."""

    def __init__(self) -> None:
        self._last: dict[str, tuple[float, int]] = {}

    def snapshot(self, live: dict[str, LivePath], now: float) -> LiveSnapshot:
        """A snapshot of `live` polled at `now` (monotonic seconds)."""
        paths = {
            name: PathState(path.available, path.readers, self._rate(name, path, now))
            for name, path in live.items()
        }
        self._last = {name: (now, path.inbound_bytes) for name, path in live.items()}
        return LiveSnapshot(mediamtx_up=True, paths=paths)

    def _rate(self, name: str, path: LivePath, now: float) -> int:
        before = self._last.get(name)
        if before is None or now <= before[0] or path.inbound_bytes < before[1]:
            return 0  # first sight, or the counter restarted with the path
        return int((path.inbound_bytes - before[1]) * 8 / (now - before[0]))
