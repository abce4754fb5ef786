"""Entry point: `nvr-headoffice --listen HOST:PORT --database PATH|URL --sites PATH [--workers N]`.

Expected problems (bad arguments, a bad sites file, an unwritable or unreachable database,
a busy port) print one line and exit 2 (arguments) or 1 (the rest); a traceback means a
bug. SIGTERM and SIGINT stop it cleanly (exit 0) after the requests in flight have
answered; SIGHUP reloads the sites file. With `--workers N` a parent forks N serving
processes on one socket (nvr_headoffice.workers).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn

# No stubs for waitress; the calls are exercised by every test of this package.
from waitress.server import create_server

from nvr import __version__
from nvr.core.httpserve import close_waitress
from nvr.core.logsetup import configure_logging
from nvr.core.redact import redact_text
from nvr_headoffice.app import create_app
from nvr_headoffice.constants import (
    MAX_BODY_BYTES,
    MAX_WORKERS,
    PROG,
    SERVER_STOP_SECONDS,
    SERVER_THREADS,
    WORKER_CHECK_SECONDS,
)
from nvr_headoffice.engines import open_engine
from nvr_headoffice.errors import HeadOfficeError, ListenError
from nvr_headoffice.sites import LiveSites
from nvr_headoffice.store import ReportStore
from nvr_headoffice.verify_cmd import verify_main
from nvr_headoffice.workers import Workers, listen_socket

log = logging.getLogger(__name__)

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


class _Parser(argparse.ArgumentParser):
    """argparse, with its error as one line (no usage block before it)."""

    def error(self, message: str) -> NoReturn:
        """Print `nvr-headoffice: error: ...` and exit 2."""
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def listen_address(text: str) -> tuple[str, int]:
    """`127.0.0.1:8600` or `[::1]:8600` -> (host, port); port 0 picks a free port."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65_535:
        raise argparse.ArgumentTypeError(f"--listen {text!r}: expected HOST:PORT")
    return host.strip("[]"), int(port)


def worker_count(text: str) -> int:
    """`--workers N`, 1 to MAX_WORKERS."""
    if not text.isdigit() or not 1 <= int(text) <= MAX_WORKERS:
        raise argparse.ArgumentTypeError(f"--workers {text!r}: expected 1 to {MAX_WORKERS}")
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = _Parser(
        prog=PROG,
        description="Reference head-office receiver of NVR site reports"
        " (docs/design/headoffice.md).",
    )
    parser.add_argument(
        "--listen",
        type=listen_address,
        default=("127.0.0.1", 8600),
        metavar="HOST:PORT",
        help="address to serve on (default 127.0.0.1:8600; port 0 picks a free one)",
    )
    parser.add_argument(
        "--database",
        required=True,
        help="the report database: a SQLite file (or sqlite:///PATH), or"
        " postgresql://USER@HOST:PORT/DATABASE for PostgreSQL",
    )
    parser.add_argument(
        "--sites", type=Path, required=True, help="YAML file: sites, their secrets, replay window"
    )
    parser.add_argument(
        "--workers",
        type=worker_count,
        default=1,
        metavar="N",
        help="serving processes sharing the address and the database (default 1: no parent)",
    )
    parser.add_argument("--log-level", type=str.upper, choices=LOG_LEVELS, default="INFO")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


class Signals:
    """SIGTERM/SIGINT ask to stop, SIGHUP to reload; the main thread acts on them."""

    def __init__(self) -> None:
        self.wake = threading.Event()
        self.stopping = False
        self.reload = False

    def install(self) -> None:
        """Route the three signals here."""
        signal.signal(signal.SIGTERM, self._on_stop)
        signal.signal(signal.SIGINT, self._on_stop)
        signal.signal(signal.SIGHUP, self._on_hup)

    def _on_stop(self, signum: int, frame: FrameType | None) -> None:
        self.stopping = True
        self.wake.set()

    def _on_hup(self, signum: int, frame: FrameType | None) -> None:
        self.reload = True
        self.wake.set()


def bind(app: Any, host: str, port: int, sock: socket.socket | None = None) -> Any:
    """The waitress server, bound (not yet serving); ListenError when the port is taken.

    With `sock` (a worker's inherited listening socket) it serves that socket instead.
    """
    # waitress buffers a body before the app sees the request: its own cap refuses a
    # larger Content-Length (413) before a byte of the body is read.
    options: dict[str, Any] = {
        "threads": SERVER_THREADS,
        "max_request_body_size": MAX_BODY_BYTES,
    }
    if sock is not None:
        return create_server(app, sockets=[sock], **options)
    try:
        return create_server(app, host=host, port=port, **options)
    except OSError as err:
        raise ListenError(f"--listen {host}:{port}: {err.strerror or err}") from err


def serve(server: Any, sites: LiveSites, signals: Signals, parent: int | None = None) -> None:
    """Serve from a thread until a stop signal (or, for a worker, its parent is gone)."""
    thread = threading.Thread(target=server.run, name="waitress", daemon=True)
    thread.start()
    while not signals.stopping:
        signals.wake.wait(WORKER_CHECK_SECONDS)
        signals.wake.clear()
        if parent is not None and os.getppid() != parent:
            log.warning("the parent process is gone: stopping")
            break
        if signals.reload:
            signals.reload = False
            sites.reload()
    log.info("stopping: requests in flight finish first")
    # Requests in flight commit and answer; queued ones are cancelled (their sites re-send).
    # Only then close the sockets: a finishing request wakes the loop through its trigger,
    # and a closed trigger would turn a clean answer into a traceback.
    server.task_dispatcher.shutdown(cancel_pending=True, timeout=SERVER_STOP_SECONDS)
    close_waitress(server)
    thread.join(SERVER_STOP_SECONDS)


def _serving(host: str, port: int, sites: LiveSites, database: str, workers: int) -> None:
    log.info(
        "serving on http://%s:%s/ for %d sites; database %s%s",
        f"[{host}]" if ":" in host else host,
        port,
        len(sites.current.sites),
        database,
        f"; {workers} workers" if workers > 1 else "",
    )


def run(args: argparse.Namespace) -> int:
    """Open everything, serve until stopped; HeadOfficeError for what a person can fix."""
    sites = LiveSites(args.sites)
    store = ReportStore.open(args.database)
    if args.workers > 1:
        # The schema is migrated once, here; each worker opens its own pool after fork.
        store.close()
        return run_workers(args, sites, store.name)
    host, port = args.listen
    server = bind(create_app(store, sites), host, port)
    signals = Signals()
    signals.install()
    _serving(host, server.effective_port, sites, store.name, 1)
    try:
        serve(server, sites, signals)
    finally:
        store.close()
    log.info("%s stopped", PROG)
    return 0


def run_workers(args: argparse.Namespace, sites: LiveSites, database: str) -> int:
    """The parent of `--workers N`: bind, fork, restart the dead, forward signals."""
    host, port = args.listen
    sock = listen_socket(host, port)
    signals = Signals()
    signals.install()
    parent = os.getpid()

    def serve_worker(number: int, shared: socket.socket) -> int:
        worker_signals = Signals()
        worker_signals.install()
        # The name shows in pg_stat_activity: which process holds which session.
        engine = open_engine(args.database, f"{PROG} worker {number} pid {os.getpid()}")
        store = ReportStore(engine)
        try:
            server = bind(create_app(store, sites), host, port, shared)
            log.info("worker %d serving (pid %d)", number, os.getpid())
            serve(server, sites, worker_signals, parent)
        finally:
            store.close()
        return 0

    workers = Workers(args.workers, sock, serve_worker)
    _serving(host, sock.getsockname()[1], sites, database, args.workers)
    workers.start()
    while not signals.stopping:
        signals.wake.wait(WORKER_CHECK_SECONDS)
        signals.wake.clear()
        if signals.reload:
            signals.reload = False
            sites.reload()  # the parent's copy says in the log whether the file is good
            workers.signal_all(signal.SIGHUP)
        workers.supervise()
    log.info("stopping %d workers: requests in flight finish first", len(workers.pids))

    def pause(seconds: float) -> None:
        # Cleared each time: a second SIGTERM must not turn the wait into a busy loop.
        signals.wake.wait(seconds)
        signals.wake.clear()

    workers.stop(pause)
    sock.close()
    log.info("%s stopped", PROG)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["verify"]:
        return _verify(argv[1:])
    args = build_parser().parse_args(argv)
    configure_logging(args.log_level)
    try:
        return run(args)
    except HeadOfficeError as err:
        print(f"{PROG}: error: {redact_text(str(err))}", file=sys.stderr)
        return 1


def _verify(argv: list[str]) -> int:
    """`nvr-headoffice verify CLIP MANIFEST --database PATH` (nvr_headoffice.verify_cmd)."""
    try:
        return verify_main(argv)
    except HeadOfficeError as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
