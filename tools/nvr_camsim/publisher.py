"""One simulated camera's encoder: an ffmpeg looping a clip into mediamtx over RTSP."""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path

from nvr.core.process import stop_process
from nvr_camsim.process import STOP_TIMEOUT_S, StderrTail, spawn

log = logging.getLogger(__name__)

# RTSP interleaved frames larger than mediamtx's limit (1440 bytes of payload) make it
# re-packetize every packet; sending smaller ones saves that work with 32 cameras.
RTP_PACKET_SIZE = 1400


def publish_command(ffmpeg: str, clip: Path, url: str) -> list[str]:
    """The ffmpeg argv looping `clip` in real time into `url` without re-encoding."""
    return [
        ffmpeg, "-hide_banner", "-nostdin", "-nostats", "-loglevel", "warning",
        "-re", "-stream_loop", "-1", "-i", str(clip),
        "-c", "copy", "-an",
        "-f", "rtsp", "-rtsp_transport", "tcp", "-pkt_size", str(RTP_PACKET_SIZE), url,
    ]  # fmt: skip


class Publisher:
    """An ffmpeg child publishing one clip on one path; not restarted by itself."""

    def __init__(self, camera_id: str, clip: Path, url: str, ffmpeg: str) -> None:
        self.camera_id = camera_id
        self.clip = clip
        self._argv = publish_command(ffmpeg, clip, url)
        self._proc: subprocess.Popen[str] | None = None
        self._tail: StderrTail | None = None

    def start(self) -> None:
        """Start the ffmpeg child; returns at once."""
        self._proc = spawn(self._argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        assert self._proc.stderr is not None
        self._tail = StderrTail(self._proc.stderr, name=f"stderr-{self.camera_id}")
        log.debug("camera=%s publisher started pid=%d clip=%s", self.camera_id, self.pid, self.clip)

    @property
    def pid(self) -> int | None:
        """The ffmpeg pid, None before start."""
        return self._proc.pid if self._proc else None

    def exit_code(self) -> int | None:
        """None while running, else the exit code (negative for a signal)."""
        return self._proc.poll() if self._proc else None

    def tail(self) -> list[str]:
        """The last stderr lines (redacted), for the log when it died."""
        if self._tail is None:
            return []
        if self.exit_code() is not None:
            self._tail.join()
        return self._tail.lines()

    def stop(self) -> None:
        """Terminate (ffmpeg tears the RTSP session down), wait, then kill."""
        if self._proc is None:
            return
        stop_process(self._proc, STOP_TIMEOUT_S)
        if self._tail is not None:
            self._tail.join()
        log.debug("camera=%s publisher stopped", self.camera_id)
