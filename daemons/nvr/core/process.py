"""Stopping child processes the same way everywhere: terminate, wait, then kill."""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Sequence
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


# A local status command (systemctl, timedatectl, chronyc) answers in milliseconds; two
# seconds means it hangs, and a probe must not hold its caller's tick.
SHORT_COMMAND_TIMEOUT_SECONDS = 2.0


def run_command(
    argv: Sequence[str],
    timeout: float = SHORT_COMMAND_TIMEOUT_SECONDS,
    *,
    check: bool = True,
) -> str:
    """Run a short local command (stdin from /dev/null) and return its stdout.

    Raises on a timeout and a missing program; on a non-zero exit too unless `check` is
    False, for tools whose exit status carries findings next to a full answer (smartctl
    sets bit 3 for a failing disk and still prints its JSON).
    """
    done = subprocess.run(
        list(argv),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=check,
        stdin=subprocess.DEVNULL,
    )
    return done.stdout
