"""Entry point of nvr-headoffice: `nvr-headoffice --listen HOST:PORT --database PATH --sites PATH`.

Expected problems (bad arguments, a bad sites file, an unwritable database, a busy port)
print one line and exit 2 (arguments) or 1 (the rest); a traceback means a bug. SIGTERM
and SIGINT stop it cleanly (exit 0) after the requests in flight have answered; SIGHUP
reloads the sites file.
"""

from __future__ import annotations

import argparse
import logging
import signal
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
    PROG,
    SERVER_STOP_SECONDS,
    SERVER_THREADS,
)
from nvr_headoffice.errors import HeadOfficeError, ListenError
from nvr_headoffice.sites import LiveSites
from nvr_headoffice.store import ReportStore
from nvr_headoffice.verify_cmd import verify_main

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


def bind(app: Any, host: str, port: int) -> Any:
    """The waitress server, bound (not yet serving); ListenError when the port is taken."""
    try:
        # waitress buffers a body before the app sees the request: its own cap refuses a
        # larger Content-Length (413) before a byte of the body is read.
        return create_server(
            app,
            host=host,
            port=port,
            threads=SERVER_THREADS,
            max_request_body_size=MAX_BODY_BYTES,
        )
    except OSError as err:
        raise ListenError(f"--listen {host}:{port}: {err.strerror or err}") from err


def serve(server: Any, sites: LiveSites, signals: Signals) -> None:
    """Serve from a thread until a stop signal; reload the sites file on SIGHUP."""
    thread = threading.Thread(target=server.run, name="waitress", daemon=True)
    thread.start()
    while not signals.stopping:
        signals.wake.wait()
        signals.wake.clear()
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


def run(args: argparse.Namespace) -> int:
    """Open everything, serve until stopped; HeadOfficeError for what a person can fix."""
    sites = LiveSites(args.sites)
    store = ReportStore.open(args.database)
    host, port = args.listen
    server = bind(create_app(store, sites), host, port)
    signals = Signals()
    signals.install()
    log.info(
        "serving on http://%s:%s/ for %d sites; database %s",
        f"[{host}]" if ":" in host else host,
        server.effective_port,
        len(sites.current.sites),
        store.name,
    )
    serve(server, sites, signals)
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
