"""Starting and stopping child processes (ffmpeg, ffprobe, status commands) one way.

Every child gets the same spawn settings (CHILD_SETTINGS): stdin from /dev/null, so a
child that reads its input (ffmpeg does, for its keyboard commands) never takes a
technician's terminal or blocks on it; its own session, so a Ctrl-C in a shell reaches us
and not the child, and we stop it in order; and our environment without the sd_notify and
watchdog variables. Stopping is always SIGTERM, a wait, then SIGKILL.
"""

from __future__ import annotations

import logging
import os
import subprocess
from collections.abc import Callable, Sequence
from typing import Any, Final

from nvr.core.notify import NOTIFY_VARIABLES

log = logging.getLogger(__name__)

# The spawn settings every child shares (besides its environment: child_environment()).
CHILD_SETTINGS: Final[dict[str, Any]] = {"stdin": subprocess.DEVNULL, "start_new_session": True}


def child_environment(base: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for a child process (ffmpeg) without our notify and watchdog variables.

    With NotifyAccess=main systemd would ignore a child's messages anyway; removing the
    variables keeps a child library from trying, and keeps the unit's intent obvious.
    """
    env = dict(os.environ if base is None else base)
    for name in NOTIFY_VARIABLES:
        env.pop(name, None)
    return env


def spawn(
    argv: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    preexec_fn: Callable[[], object] | None = None,
) -> subprocess.Popen[bytes]:
    """Start a long-running child with stdout and stderr on pipes (bytes).

    `env` defaults to child_environment(); a caller that adds variables passes
    child_environment() with them.
    """
    return subprocess.Popen(
        list(argv),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=child_environment() if env is None else env,
        preexec_fn=preexec_fn,
        **CHILD_SETTINGS,
    )


def run_child(argv: Sequence[str], timeout: float) -> subprocess.CompletedProcess[str]:
    """Run a child to its end and collect its output as text; the exit code is the caller's.

    Raises subprocess.TimeoutExpired (the child is killed first) or OSError (no such
    program), as subprocess.run does.
    """
    return subprocess.run(
        list(argv),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=child_environment(),
        **CHILD_SETTINGS,
    )


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
    """Run a short local command and return its stdout.

    Raises on a timeout and a missing program; on a non-zero exit too unless `check` is
    False, for tools whose exit status carries findings next to a full answer (smartctl
    sets bit 3 for a failing disk and still prints its JSON).
    """
    done = run_child(argv, timeout)
    if check:
        done.check_returncode()
    return done.stdout
