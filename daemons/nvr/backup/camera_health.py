"""What a NOC wants to see of each camera: measured fps, bitrate, uptime, reconnects per hour.

Measured by nvr-backup from what it already has (ffmpeg's progress blocks, the size of each
closed segment, its own run history), written into its heartbeat detail, and read from
there by nvr-health (/metrics) and nvr-report (the status report). No extra camera session
and no decoding: see docs/design/cameras.md, invariant 8.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

RECONNECT_WINDOW_SECONDS = 3600.0


@dataclass
class CameraHealth:
    """Counters of one camera's recorder; times come from the recorder's injected clock."""

    recording_since: float | None = None
    bitrate_bps: int | None = None
    _reconnects: deque[float] = field(default_factory=deque)

    def recording(self, now: float) -> None:
        """A run started to deliver video."""
        self.recording_since = now

    def ended(self, now: float, failed: bool) -> None:
        """A run ended; a failure (exit, stall) counts as a reconnect."""
        self.recording_since = None
        if failed:
            self._reconnects.append(now)

    def segment(self, size_bytes: int, duration_ms: int) -> None:
        """A segment closed: its size over its duration is the camera's current bitrate."""
        if duration_ms > 0:
            self.bitrate_bps = round(size_bytes * 8000 / duration_ms)

    def reconnects_per_hour(self, now: float) -> int:
        """Failed runs in the last hour."""
        while self._reconnects and now - self._reconnects[0] > RECONNECT_WINDOW_SECONDS:
            self._reconnects.popleft()
        return len(self._reconnects)

    def snapshot(self, now: float, fps: float | None) -> dict[str, object]:
        """The heartbeat fields (fps 0 while not recording: no frames are written)."""
        recording = self.recording_since is not None
        return {
            "fps": round(fps, 2) if recording and fps is not None else 0.0,
            "bitrate_bps": self.bitrate_bps,
            "uptime_s": round(now - self.recording_since) if self.recording_since else 0,
            "reconnects_per_hour": self.reconnects_per_hour(now),
        }
