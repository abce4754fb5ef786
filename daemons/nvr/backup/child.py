"""One ffmpeg child: started in its own session, read on two pipes, stopped politely.

stdout carries the segment list (`name,start,end` per closed segment), stderr carries
progress blocks (`out_time_us=...`) and warnings. Two reader threads turn them into
callbacks and a ring buffer of the last lines, printed when the child dies so the log
says why.
"""

from __future__ import annotations

import ctypes
import logging
import signal
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import IO

from nvr.core.process import child_environment, spawn, stop_process
from nvr.core.redact import redact_text
from nvr.core.threadname import name_os_thread

log = logging.getLogger(__name__)

STDERR_RING_LINES = 40
# The frame rate is measured over the last 10 s of video, whatever the progress period.
FPS_WINDOW_US = 10_000_000
_PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True)

SegmentCallback = Callable[[str, float, float], None]


def _die_with_parent() -> None:
    # Runs in the child between fork and exec. If nvr-backup is killed with -9 the
    # kernel sends ffmpeg SIGTERM, so no orphan keeps writing files nobody indexes.
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class FfmpegChild:
    """A running ffmpeg and what it has said."""

    def __init__(
        self,
        argv: list[str],
        on_segment: SegmentCallback,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._clock = clock
        self._on_segment = on_segment
        self._lines: deque[str] = deque(maxlen=STDERR_RING_LINES)
        self.started_at = clock()
        self.last_progress_at = self.started_at
        self.progressed = False
        self._out_time_us = -1
        self._frame = -1
        self._frames: deque[tuple[int, int]] = deque()  # (out_time_us, frame), oldest first
        env = child_environment()
        env["TZ"] = "UTC"  # strftime file names and clock-aligned cuts in UTC
        self._proc = spawn(argv, env=env, preexec_fn=_die_with_parent)
        assert self._proc.stdout is not None and self._proc.stderr is not None
        self._readers = [
            threading.Thread(
                target=self._read_segments,
                args=(self._proc.stdout,),
                name="ffmpeg-segments",
                daemon=True,
            ),
            threading.Thread(
                target=self._read_stderr,
                args=(self._proc.stderr,),
                name="ffmpeg-progress",
                daemon=True,
            ),
        ]
        for reader in self._readers:
            reader.start()

    @property
    def pid(self) -> int:
        """Process id."""
        return self._proc.pid

    def poll(self) -> int | None:
        """Exit code, or None while running."""
        return self._proc.poll()

    def last_lines(self) -> list[str]:
        """The last warning/error lines ffmpeg printed (redacted)."""
        return list(self._lines)

    def _read_segments(self, stream: IO[bytes]) -> None:
        name_os_thread()
        for raw in stream:
            line = raw.decode("utf-8", "replace").strip()
            name, _, rest = line.partition(",")
            start, _, end = rest.partition(",")
            try:
                self._on_segment(name, float(start), float(end))
            except ValueError:
                log.warning("unexpected segment list line from ffmpeg: %r", line)

    def _read_stderr(self, stream: IO[bytes]) -> None:
        name_os_thread()
        for raw in stream:
            line = raw.decode("utf-8", "replace").strip()
            key, sep, value = line.partition("=")
            if sep and key == "out_time_us":
                self._note_progress(value)
            elif sep and key == "frame" and value.isdigit():
                self._frame = int(value)  # comes before out_time_us in each block
            elif sep and key.isidentifier() and " " not in line:
                continue  # the rest of a progress block
            elif line:
                self._lines.append(redact_text(line))

    def _note_progress(self, value: str) -> None:
        if value.lstrip("-").isdigit() and int(value) > self._out_time_us:
            self._out_time_us = int(value)
            self.last_progress_at = self._clock()
            self.progressed = self._out_time_us > 0 or self.progressed
            if self._frame >= 0:
                self._note_frames(self._out_time_us, self._frame)

    def _note_frames(self, out_time_us: int, frame: int) -> None:
        # Drop the oldest sample while the next one still spans the window.
        self._frames.append((out_time_us, frame))
        while len(self._frames) > 2 and out_time_us - self._frames[1][0] >= FPS_WINDOW_US:
            self._frames.popleft()

    def fps(self) -> float | None:
        """Video frames per second of video time over the last ~10 s; None before known.

        Measured against the stream's own clock (out_time), so a camera sending 12 of its
        25 frames shows 12, whatever the load on the box; a stream that stops shows in
        the stall rule and the camera's uptime, not here.
        """
        if len(self._frames) < 2:
            return None
        (t0, f0), (t1, f1) = self._frames[0], self._frames[-1]
        return (f1 - f0) * 1_000_000 / (t1 - t0)

    def stop(self, grace_seconds: float) -> int:
        """SIGTERM (ffmpeg closes its segment), wait, then SIGKILL. Returns the exit code."""
        code = stop_process(self._proc, grace_seconds)
        self.join_readers()
        return code

    def join_readers(self) -> None:
        """Wait until both pipes are drained, so every closed segment was reported.

        Then close them: a camera restarting all night must not leak two descriptors per
        run until the garbage collector happens by.
        """
        for reader in self._readers:
            reader.join(timeout=5)
        if not any(reader.is_alive() for reader in self._readers):
            for pipe in (self._proc.stdout, self._proc.stderr):
                if pipe is not None:
                    pipe.close()
