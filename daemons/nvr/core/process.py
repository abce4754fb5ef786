"""Stopping child processes the same way everywhere: terminate, wait, then kill."""

from __future__ import annotations

import logging
import subprocess
from typing import Any

log = logging.getLogger(__name__)


def stop_process(proc: subprocess.Popen[Any], timeout: float) -> int:
    """SIGTERM, wait up to `timeout` seconds, then SIGKILL; returns the exit code.

    SIGTERM first because ffmpeg and mediamtx close their files cleanly on it (ffmpeg
    finishes the segment it is writing).
    """
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            log.warning("pid=%d ignored SIGTERM for %.0f s: killing it", proc.pid, timeout)
            proc.kill()
    return proc.wait()
