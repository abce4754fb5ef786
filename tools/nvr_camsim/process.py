"""Starting child processes and following their stderr (settings, stopping: nvr.core.process)."""

from __future__ import annotations

import logging
import subprocess
from collections import deque
from collections.abc import Sequence
from threading import Thread
from typing import IO, Any, Self

import psutil

from nvr.core.process import CHILD_SETTINGS, child_environment
from nvr.core.redact import redact_text

log = logging.getLogger(__name__)

STOP_TIMEOUT_S = 5.0
TAIL_LINES = 40


def spawn(argv: Sequence[str], *, stdout: Any, stderr: Any) -> subprocess.Popen[str]:
    """Start `argv` as the box starts its children (nvr.core.process.CHILD_SETTINGS).

    Its own session keeps a Ctrl-C in the terminal from reaching the child directly, so
    the parent decides the order of shutdown (publishers before mediamtx). Unlike the
    box's spawn, the caller picks where the output goes, read as text (StderrTail).
    """
    return subprocess.Popen(
        list(argv),
        stdout=stdout,
        stderr=stderr,
        env=child_environment(),
        text=True,
        errors="replace",
        **CHILD_SETTINGS,
    )


class Started:
    """A thing with start() and stop(), used as a context manager: started on entering."""

    def start(self) -> None:
        """Start it; raises when it cannot."""
        raise NotImplementedError

    def stop(self) -> None:
        """Stop it; safe to call twice."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def pid_running(pid: object) -> bool:
    """True if `pid` is a live process (a zombie is dead)."""
    try:
        return bool(psutil.Process(int(str(pid))).status() != psutil.STATUS_ZOMBIE)
    except (psutil.Error, ValueError):
        return False


class StderrTail:
    """The last lines a child wrote to stderr, read by a thread into a ring buffer.

    Kept so that when a child dies the log can say why, without keeping its whole output.
    Lines are redacted: ffmpeg echoes URLs with passwords in its error messages.
    """

    def __init__(self, stream: IO[str], name: str, maxlen: int = TAIL_LINES) -> None:
        self._lines: deque[str] = deque(maxlen=maxlen)
        self._thread = Thread(target=self._pump, args=(stream,), name=name, daemon=True)
        self._thread.start()

    def _pump(self, stream: IO[str]) -> None:
        with stream:
            for line in stream:
                self._lines.append(redact_text(line.rstrip()))

    def lines(self) -> list[str]:
        """A copy of the buffered lines, oldest first."""
        return list(self._lines)

    def join(self, timeout: float = 2.0) -> None:
        """Wait for the reader to reach end of file (after the child exited)."""
        self._thread.join(timeout)
