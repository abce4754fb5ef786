"""The service runtime every daemon runs in.

A daemon subclasses `Daemon` and implements named steps; `run_daemon` does the rest, the
same way for all seven: `--config`/NVR_CONFIG, logging, the state file, sd_notify (READY,
STATUS, WATCHDOG, STOPPING), SIGTERM/SIGINT (clean stop), SIGHUP (reload the config and
apply the difference) and a heartbeat row that nvr-health reads.

The main thread runs the work loop: tick, ping the watchdog, beat, wait on the stop event.
Pinging from that loop (not from a timer thread) is what makes the watchdog meaningful: a
tick that hangs stops the pings, and systemd restarts the daemon.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import queue
import signal
import sys
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from enum import StrEnum
from types import FrameType
from typing import Any, ClassVar, TypeVar

import psutil

from nvr import __version__
from nvr.core.config import Config, load_config, resolve_path
from nvr.core.config.health import HealthConfig
from nvr.core.config.logs import LogFormat
from nvr.core.configloads import Outcome, record_load, record_refusal
from nvr.core.errors import ConfigError, NvrError, StateError
from nvr.core.logfields import configure_daemon_logging
from nvr.core.notify import Notifier
from nvr.core.redact import redact_text
from nvr.core.state import StateStore, now_ms
from nvr.core.tables.events import Severity, record_event

log = logging.getLogger(__name__)

# Named in one place: readers (nvr.core.heartbeats) compare heartbeat age against interval_ms.
HEARTBEAT_SECONDS = 5.0
# A changed STATUS line is written sooner, but not more than once per this many seconds
# (a "retry in 45s" countdown changes every second).
STATUS_BEAT_SECONDS = 1.0
DEFAULT_TICK_SECONDS = 1.0


_T = TypeVar("_T")


def drain(q: queue.Queue[_T] | queue.SimpleQueue[_T]) -> Iterator[_T]:
    """What `q` holds, one at a time, without waiting: a tick takes what its threads left."""
    while True:
        try:
            yield q.get_nowait()
        except queue.Empty:
            return


class Lifecycle(StrEnum):
    """Where a daemon is in its life; stored in its heartbeat row."""

    STARTING = "starting"
    RUNNING = "running"
    DEGRADED = "degraded"
    STOPPING = "stopping"
    STOPPED = "stopped"


class Daemon(ABC):
    """One daemon's behaviour. The runtime owns the process; this owns the work.

    Subclasses set `name` (the unit name, e.g. "nvr-backup") and implement `tick` and
    `status_line`; they may override `start`, `apply_config`, `shutdown` and
    `heartbeat_detail`. Threads of their own must wait on `self.stop_event`.
    """

    name: ClassVar[str]
    tick_seconds: ClassVar[float] = DEFAULT_TICK_SECONDS

    def __init__(self, config: Config, store: StateStore, stop_event: threading.Event) -> None:
        self.config = config
        self.store = store
        self.stop_event = stop_event
        self.lifecycle = Lifecycle.STARTING

    def start(self) -> None:  # noqa: B027 - optional hook, empty by default
        """Initialise before READY=1 (open sockets, start children)."""

    @abstractmethod
    def tick(self) -> None:
        """One pass of the daemon's work; should return within a few seconds."""

    @abstractmethod
    def status_line(self) -> str:
        """One line for `systemctl status`, e.g. `recording 31/32 cameras; cam07 offline`."""

    def apply_config(self, new: Config) -> None:
        """Apply a reloaded config; the default just swaps it in."""
        self.config = new

    def shutdown(self) -> None:  # noqa: B027 - optional hook, empty by default
        """Stop children and threads; called once, after the loop has ended."""

    def heartbeat_detail(self) -> dict[str, Any]:
        """Extra JSON for the heartbeat row (e.g. per-camera state)."""
        return {}


def build_arg_parser(name: str) -> argparse.ArgumentParser:
    """The command line every daemon shares."""
    parser = argparse.ArgumentParser(prog=name, description=f"{name} daemon of the NVR appliance")
    parser.add_argument(
        "--config", help="config file (default: $NVR_CONFIG, else /etc/nvr/nvr.yaml)"
    )
    parser.add_argument("--log-level", default=os.environ.get("NVR_LOG_LEVEL", "INFO"))
    parser.add_argument(
        "--log-format",
        choices=[str(f) for f in LogFormat],
        help="text or json lines when not under journald (default: the config's logging.format)",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


class Runtime:
    """Drives one `Daemon` from start to clean exit."""

    def __init__(
        self,
        daemon_cls: type[Daemon],
        config_path: str | None,
        notifier: Notifier | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._daemon_cls = daemon_cls
        self._config_path = resolve_path(config_path)
        self._notifier = notifier or Notifier()
        self._clock = clock
        self._stop = threading.Event()
        self._reload_requested = threading.Event()
        self._started_at_ms = now_ms()
        self._crashed_at_ms: int | None = None
        self._last_beat = float("-inf")
        self._tick_failing = False
        self._beat_status = ""

    def request_stop(self) -> None:
        """Ask the loop to end (what SIGTERM does)."""
        self._stop.set()

    def request_reload(self) -> None:
        """Ask the loop to reload the config (what SIGHUP does)."""
        self._reload_requested.set()

    def _install_signal_handlers(self) -> None:
        def on_stop(signum: int, frame: FrameType | None) -> None:
            log.info("received %s, stopping", signal.Signals(signum).name)
            self.request_stop()

        def on_hup(signum: int, frame: FrameType | None) -> None:
            self.request_reload()

        signal.signal(signal.SIGTERM, on_stop)
        signal.signal(signal.SIGINT, on_stop)
        signal.signal(signal.SIGHUP, on_hup)

    def serve(self) -> int:
        """Load, start, loop until stopped, shut down. Returns the exit code."""
        try:
            config = load_config(self._config_path)
        except ConfigError as err:
            # Said in the state file too: /health then reads "config invalid", not "crashed".
            record_refusal(self._daemon_cls.name, self._config_path, str(err))
            raise
        store = StateStore.open(config.storage.state_file)
        daemon = self._daemon_cls(config, store, self._stop)
        self._install_signal_handlers()
        self._note_load(daemon, Outcome.ACCEPTED)
        self._crashed_at_ms = previous_run_crashed(store, daemon.name)
        if self._crashed_at_ms is not None:
            note_restart_loop(store, daemon.name, config.health)
        self._beat(daemon, force=True)
        daemon.start()
        daemon.lifecycle = Lifecycle.RUNNING
        self._beat(daemon, force=True)
        self._notifier.ready(daemon.status_line())
        log.info("%s %s ready: %s", daemon.name, __version__, daemon.status_line())
        try:
            self._loop(daemon)
        finally:
            self._shutdown(daemon)
            store.close()
        return 0

    def _loop(self, daemon: Daemon) -> None:
        while not self._stop.is_set():
            if self._reload_requested.is_set():
                self._reload_requested.clear()
                self._reload(daemon)
                self._beat(daemon, force=True)
            self._step(daemon)
            self._notifier.watchdog()
            status = daemon.status_line()
            # A changed status is written soon: nvr-health and technicians read it.
            self._beat(daemon, every=STATUS_BEAT_SECONDS if status != self._beat_status else None)
            self._notifier.status(status)
            self._stop.wait(daemon.tick_seconds)

    def _step(self, daemon: Daemon) -> None:
        """One tick; an error is logged with its traceback and the loop goes on."""
        try:
            daemon.tick()
        except Exception:
            if not self._tick_failing:
                log.exception("%s: tick failed; retrying every tick", daemon.name)
            self._tick_failing = True
            daemon.lifecycle = Lifecycle.DEGRADED
            return
        if self._tick_failing:
            # Only undo the DEGRADED we set; a daemon's own DEGRADED is its to clear.
            log.info("%s: tick succeeded again", daemon.name)
            self._tick_failing = False
            daemon.lifecycle = Lifecycle.RUNNING

    def _reload(self, daemon: Daemon) -> None:
        self._notifier.reloading()
        try:
            new = load_config(self._config_path)
        except ConfigError as err:
            log.error("reload rejected, keeping the running config: %s", err)
            self._note_load(daemon, Outcome.REJECTED, str(err))
        else:
            if new.storage.state_file != daemon.config.storage.state_file:
                log.warning("storage.state_file changed: takes effect at the next restart")
            daemon.apply_config(new)
            log.info("config reloaded from %s", self._config_path)
            self._note_load(daemon, Outcome.ACCEPTED)
        self._notifier.reloaded()

    def _note_load(self, daemon: Daemon, outcome: Outcome, error: str | None = None) -> None:
        """Record what this daemon made of the file (`nvrctl config apply` waits for it)."""
        try:
            record_load(daemon.store, daemon.name, self._config_path, outcome, error)
        except StateError as err:
            log.warning("config load not recorded: %s", err)

    def _beat(self, daemon: Daemon, force: bool = False, every: float | None = None) -> None:
        now = self._clock()
        interval = HEARTBEAT_SECONDS if every is None else every
        if not force and now - self._last_beat < interval:
            return
        self._last_beat = now
        self._beat_status = daemon.status_line()
        try:
            write_heartbeat(
                daemon.store,
                daemon=daemon.name,
                state=daemon.lifecycle,
                status=self._beat_status,
                detail=daemon.heartbeat_detail(),
                started_at_ms=self._started_at_ms,
                crashed_at_ms=self._crashed_at_ms,
            )
        except StateError as err:
            # Missing a beat is better than dying: recording must go on regardless.
            log.warning("heartbeat not written: %s", err)

    def _shutdown(self, daemon: Daemon) -> None:
        self._notifier.stopping(f"stopping: {daemon.status_line()}")
        daemon.lifecycle = Lifecycle.STOPPING
        self._beat(daemon, force=True)
        try:
            daemon.shutdown()
        except Exception:
            log.exception("%s: shutdown failed", daemon.name)
        daemon.lifecycle = Lifecycle.STOPPED
        self._beat(daemon, force=True)
        log.info("%s stopped", daemon.name)


def write_heartbeat(
    store: StateStore,
    *,
    daemon: str,
    state: Lifecycle,
    status: str,
    detail: dict[str, Any],
    started_at_ms: int,
    crashed_at_ms: int | None = None,
) -> None:
    """Upsert this daemon's heartbeat row (a crash time, once set, stays until the next)."""
    with store.write() as conn:
        conn.execute(
            "INSERT INTO heartbeats (daemon, pid, state, status, detail_json, started_at_ms,"
            " updated_at_ms, interval_ms, crashed_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (daemon) DO UPDATE SET pid = excluded.pid, state = excluded.state,"
            " status = excluded.status, detail_json = excluded.detail_json,"
            " started_at_ms = excluded.started_at_ms, updated_at_ms = excluded.updated_at_ms,"
            " interval_ms = excluded.interval_ms,"
            " crashed_at_ms = coalesce(excluded.crashed_at_ms, heartbeats.crashed_at_ms)",
            (
                daemon,
                os.getpid(),
                str(state),
                status,
                json.dumps(detail),
                started_at_ms,
                now_ms(),
                int(HEARTBEAT_SECONDS * 1000),
                crashed_at_ms,
            ),
        )


# The event each crash leaves: nvr-health counts them to tell one crash from a crash loop.
CRASH_EVENT_KIND = "daemon_crashed"


def previous_run_crashed(store: StateStore, daemon: str) -> int | None:
    """Now (ms) if the daemon's previous run ended without saying "stopped", else None.

    Its heartbeat row still says running (or starting, stopping) and its process is gone:
    kill -9, a crash, the OOM killer or a power cut. Under supervisord or systemd the
    restart comes within seconds, before the old heartbeat could go stale, so this mark is
    what lets /health (and the NOC) see the crash.
    """
    row = (
        store.read()
        .execute("SELECT pid, state FROM heartbeats WHERE daemon = ?", (daemon,))
        .fetchone()
    )
    if row is None or row[1] == str(Lifecycle.STOPPED) or psutil.pid_exists(row[0]):
        return None
    record_event(
        store,
        source=daemon,
        severity=Severity.WARNING,
        kind=CRASH_EVENT_KIND,
        message=(
            f"{daemon}: the previous run (pid {row[0]}) ended without stopping"
            f" (state {row[1]}): killed or crashed"
        ),
        data={"daemon": daemon, "pid": row[0]},
    )
    return now_ms()


# Recorded once a loop starts (the crash that reaches health.crash_loop_count): a critical
# event, so nvr-report sends head office an alarm naming the daemon (issue 24).
RESTART_LOOP_EVENT_KIND = "daemon_restart_loop"


def note_restart_loop(store: StateStore, daemon: str, health: HealthConfig) -> None:
    """Record a restart-loop event when this crash makes `crash_loop_count` in the window."""
    since = now_ms() - int(health.crash_loop_window_seconds * 1000)
    row = (
        store.read()
        .execute(
            "SELECT count(*) FROM events WHERE created_at_ms >= ? AND kind = ? AND source = ?",
            (since, CRASH_EVENT_KIND, daemon),
        )
        .fetchone()
    )
    if int(row[0]) != health.crash_loop_count:
        return
    minutes = health.crash_loop_window_seconds / 60
    record_event(
        store,
        source=daemon,
        severity=Severity.CRITICAL,
        kind=RESTART_LOOP_EVENT_KIND,
        message=(
            f"{daemon} crashed {row[0]} times within {minutes:g} min: restart loop"
            f" (journalctl -u {daemon})"
        ),
        data={"daemon": daemon, "crashes": int(row[0])},
    )


def configured_format(config_path: str | None) -> LogFormat:
    """The config's logging.format; text when the config does not load.

    The runtime then loads it again and reports why it failed, in one line.
    """
    try:
        return load_config(resolve_path(config_path)).logging.format
    except ConfigError:
        return LogFormat.TEXT


def run_daemon(daemon_cls: type[Daemon], argv: Sequence[str] | None = None) -> int:
    """Entry point body of every daemon: returns the process exit code.

    Expected problems (bad config, unwritable state dir, missing ffmpeg) print one line
    and exit 1; a traceback means a bug.
    """
    args = build_arg_parser(daemon_cls.name).parse_args(argv)
    log_format = LogFormat(args.log_format) if args.log_format else configured_format(args.config)
    configure_daemon_logging(args.log_level.upper(), daemon_cls.name, log_format)
    try:
        return Runtime(daemon_cls, args.config).serve()
    except NvrError as err:
        print(f"{daemon_cls.name}: error: {redact_text(str(err))}", file=sys.stderr)
        return 1
