"""`--workers N`: several serving processes behind one address, sharing the database.

The parent binds the listening socket once and forks N workers that inherit it; the kernel
hands each new connection to whichever worker accepts first. A worker that dies loses only
the connections it had accepted: their sites see a failed POST and re-send (the report ids
keep that idempotent), while the connections still queued on the shared socket are taken
by the others. The parent serves nothing itself: it restarts a worker that died, forwards
SIGHUP (each worker reloads the sites file) and SIGTERM (each finishes its requests).
See docs/design/headoffice.md, "Scale-out" and invariant 11.

SO_REUSEPORT (one socket per process) was the alternative: the kernel spreads connections
evenly, but those queued on a dying process's own socket are reset rather than served.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from nvr_headoffice.constants import (
    LISTEN_BACKLOG,
    SERVER_STOP_SECONDS,
    WORKER_CHECK_SECONDS,
    WORKER_RESTART_WINDOW_SECONDS,
    WORKER_RESTARTS_PER_WINDOW,
)
from nvr_headoffice.errors import ListenError

log = logging.getLogger(__name__)

# serve(worker number, the shared socket) -> exit code; runs in the forked worker.
ServeWorker = Callable[[int, socket.socket], int]


def listen_socket(host: str, port: int) -> socket.socket:
    """The listening socket the workers share; ListenError when the port is taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family, backlog=LISTEN_BACKLOG)
    except OSError as err:
        raise ListenError(f"--listen {host}:{port}: {err.strerror or err}") from err


def describe_exit(status: int) -> str:
    """`exited 1` or `killed by SIGKILL` from a wait status."""
    if os.WIFSIGNALED(status):
        return f"killed by {signal.Signals(os.WTERMSIG(status)).name}"
    return f"exited {os.waitstatus_to_exitcode(status)}"


@dataclass
class Workers:
    """The parent's book of its workers: pid -> number, restarts due, recent restarts."""

    count: int
    sock: socket.socket
    serve: ServeWorker
    pids: dict[int, int] = field(default_factory=dict)
    due: dict[int, float] = field(default_factory=dict)  # number -> monotonic time to restart
    restarts: deque[float] = field(default_factory=deque)

    def spawn(self, number: int) -> None:
        """Fork worker `number`; the child serves and never returns here."""
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                code = self.serve(number, self.sock)
            except BaseException:
                log.exception("worker %d failed", number)
            finally:
                logging.shutdown()
                # _exit: the child must not run the parent's atexit handlers.
                os._exit(code)
        self.pids[pid] = number
        log.info("worker %d started (pid %d)", number, pid)

    def start(self) -> None:
        """Fork every worker."""
        for number in range(1, self.count + 1):
            self.spawn(number)

    def reap(self) -> list[tuple[int, int, int]]:
        """(number, pid, wait status) of each worker that exited since the last call."""
        exited = []
        while self.pids:
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                break
            number = self.pids.pop(pid, None)
            if number is not None:
                exited.append((number, pid, status))
        return exited

    def supervise(self) -> None:
        """Schedule a restart of each worker that died; fork those that are due."""
        now = time.monotonic()
        for number, pid, status in self.reap():
            self.due[number] = self._restart_time(now)
            delay = self.due[number] - now
            log.warning(
                "worker %d (pid %d) %s: restarting it%s",
                number,
                pid,
                describe_exit(status),
                f" in {delay:.0f} s (restart budget spent: degraded)" if delay > 0 else "",
            )
        for number, when in sorted(self.due.items()):
            if when <= now:
                del self.due[number]
                self.spawn(number)

    def _restart_time(self, now: float) -> float:
        """Now, unless N restarts already fell in the window: then when the oldest leaves it."""
        while self.restarts and now - self.restarts[0] > WORKER_RESTART_WINDOW_SECONDS:
            self.restarts.popleft()
        when = now
        if len(self.restarts) >= WORKER_RESTARTS_PER_WINDOW:
            when = self.restarts[-WORKER_RESTARTS_PER_WINDOW] + WORKER_RESTART_WINDOW_SECONDS
        self.restarts.append(when)
        return when

    def signal_all(self, signum: int) -> None:
        """Send `signum` to every worker alive."""
        for pid in list(self.pids):
            try:
                os.kill(pid, signum)
            except ProcessLookupError:
                continue

    def stop(self, wait: Callable[[float], object]) -> None:
        """SIGTERM, let requests in flight finish, then SIGKILL what is left.

        `wait(seconds)` is the parent's interruptible pause between checks.
        """
        self.due.clear()
        self.signal_all(signal.SIGTERM)
        deadline = time.monotonic() + SERVER_STOP_SECONDS + WORKER_CHECK_SECONDS
        while self.pids and time.monotonic() < deadline:
            for number, pid, status in self.reap():
                log.info("worker %d (pid %d) %s", number, pid, describe_exit(status))
            wait(WORKER_CHECK_SECONDS / 10)
        if self.pids:
            log.warning("workers %s did not stop in time: killing them", sorted(self.pids.values()))
            self.signal_all(signal.SIGKILL)
            while self.pids:
                pid, _ = os.waitpid(-1, 0)
                self.pids.pop(pid, None)
