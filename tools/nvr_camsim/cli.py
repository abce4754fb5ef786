"""`nvr-camsim`: run simulated cameras in the foreground, and switch their faults.

    nvr-camsim [--cameras N] [--resolution WxH] [--bitrate 2M] [--fault cam02=black ...]
                  [--run-dir run/camsim] [--rtsp-port 8554]
    nvr-camsim fault CAMERA FAULT|none [--run-dir run/camsim]

The URLs are printed with the password masked; the real ones are in `cameras.json` in the
run directory (mode 0600). See `nvr_camsim.control` for the files.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from time import monotonic
from types import FrameType
from typing import Any

from nvr.core.errors import NvrError
from nvr.core.redact import redact_url
from nvr.core.tools import require_tool
from nvr_camsim.clips import default_cache_dir, parse_bitrate, parse_resolution
from nvr_camsim.control import (
    CAMERAS_FILE,
    FAULTS_FILE,
    FaultControl,
    fault_names,
    parse_faults,
    read_json,
    saved_passwords,
    write_private_json,
)
from nvr_camsim.errors import CamsimError
from nvr_camsim.faults import Fault, parse_fault
from nvr_camsim.process import pid_running
from nvr_camsim.simulator import CameraSimulator

DEFAULT_RUN_DIR = Path("run/camsim")
DEFAULT_RTSP_PORT = 8554
CONTROL_POLL_S = 0.5
FAULT_WAIT_S = 30.0
MAX_CAMERAS = 256
EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class UsageError(ValueError):
    """A bad option value; reported in one line with exit code 2."""


@dataclass(frozen=True)
class Options:
    """The validated options of a camsim run."""

    cameras: int
    width: int
    height: int
    bitrate: int
    faults: dict[str, Fault | None]


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register `camsim` (and `camsim fault`) on an argparse subparsers object."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "camsim",
        help="run simulated IP cameras (mediamtx + ffmpeg publishers)",
        description="Run N simulated RTSP cameras in the foreground until Ctrl-C.",
    )
    parser.add_argument("--cameras", type=int, default=4, metavar="N", help="number (default 4)")
    parser.add_argument(
        "--resolution", default="1280x720", metavar="WxH", help="(default 1280x720)"
    )
    parser.add_argument("--bitrate", default="2M", help="video bitrate, e.g. 4M (default 2M)")
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="CAM=FAULT",
        help=f"start a camera with a fault ({', '.join(Fault)}); repeatable",
    )
    parser.add_argument(
        "--run-dir",
        type=Path,
        default=DEFAULT_RUN_DIR,
        help=f"config, logs and credentials (default {DEFAULT_RUN_DIR})",
    )
    parser.add_argument(
        "--rtsp-port",
        type=int,
        default=DEFAULT_RTSP_PORT,
        help=f"RTSP port (default {DEFAULT_RTSP_PORT}; 0 picks a free one)",
    )
    actions = parser.add_subparsers(dest="camsim_action", metavar="{fault}")
    fault = actions.add_parser("fault", help="switch a camera's fault in a running camsim")
    fault.add_argument("camera", help="camera id, e.g. cam02")
    fault.add_argument("fault_name", metavar="FAULT|none", help=", ".join(Fault))
    # SUPPRESS: a subparser's default would overwrite `camsim --run-dir X fault ...`.
    fault.add_argument("--run-dir", type=Path, default=argparse.SUPPRESS, help="as for camsim")
    fault.add_argument("--timeout", type=float, default=FAULT_WAIT_S, help=argparse.SUPPRESS)
    parser.set_defaults(func=run)  # nvrctl dispatches on args.func
    return parser


def run(args: argparse.Namespace) -> int:
    """Run the subcommand; returns the exit code. Errors are one line on stderr."""
    try:
        if getattr(args, "camsim_action", None) == "fault":
            return _run_fault(args)
        return _run_cameras(args)
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except NvrError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_ERROR


# -- camsim ------------------------------------------------------------------------------


def parse_options(args: argparse.Namespace) -> Options:
    """Validate the options; UsageError with a one-line message otherwise."""
    if not 1 <= args.cameras <= MAX_CAMERAS:
        raise UsageError(f"--cameras must be between 1 and {MAX_CAMERAS}")
    if not 0 <= args.rtsp_port <= 65535:
        raise UsageError("--rtsp-port must be between 0 and 65535")
    try:
        width, height = parse_resolution(args.resolution)
        bitrate = parse_bitrate(args.bitrate)
    except ValueError as err:
        raise UsageError(str(err)) from None
    return Options(
        args.cameras, width, height, bitrate, _parse_fault_options(args.fault, args.cameras)
    )


def _parse_fault_options(items: list[str], cameras: int) -> dict[str, Fault | None]:
    faults: dict[str, Fault | None] = {}
    known = {f"cam{n:02d}" for n in range(1, cameras + 1)}
    for item in items:
        camera, sep, name = item.partition("=")
        if not sep:
            raise UsageError(f"--fault {item!r}: expected CAMERA=FAULT, e.g. cam02=black")
        if camera not in known:
            raise UsageError(f"--fault {item!r}: no camera {camera!r} (cam01..cam{cameras:02d})")
        try:
            faults[camera] = parse_fault(name)
        except ValueError as err:
            raise UsageError(f"--fault {item!r}: {err}") from None
    return faults


def _run_cameras(args: argparse.Namespace) -> int:
    options = parse_options(args)
    # Before anything slow (encoding clips), so a missing tool fails at once.
    require_tool("ffmpeg")
    require_tool("mediamtx")
    run_dir: Path = args.run_dir.absolute()
    run_dir.mkdir(parents=True, exist_ok=True)
    sim = CameraSimulator(
        run_dir,
        options.cameras,
        width=options.width,
        height=options.height,
        bitrate=options.bitrate,
        faults=options.faults,
        passwords=saved_passwords(run_dir),
        rtsp_port=args.rtsp_port,
    )
    stop = threading.Event()
    try:
        with _signals_set(stop) as started:
            _say(
                f"camsim: preparing clips (encoded once, cached in {default_cache_dir()})", err=True
            )
            sim.prepare_clips()
            sim.start()
            _serve(sim, run_dir, options, started, stop)
    except KeyboardInterrupt:
        _say("camsim: interrupted while starting", err=True)
        return EXIT_INTERRUPTED
    _say("camsim: stopped")
    return EXIT_OK


def _serve(
    sim: CameraSimulator,
    run_dir: Path,
    options: Options,
    started: threading.Event,
    stop: threading.Event,
) -> None:
    """Print the cameras, then apply fault edits until `stop`; always stops the children."""
    control = FaultControl(sim, run_dir, notify=_say)
    try:
        control.open()
        started.set()
        _print_summary(sim, run_dir, options)
        while not stop.wait(CONTROL_POLL_S):
            control.poll()
    finally:
        control.close()
        sim.stop()


@contextmanager
def _signals_set(stop: threading.Event) -> Iterator[threading.Event]:
    """SIGINT/SIGTERM: abort start-up with KeyboardInterrupt, or later set `stop`.

    While starting (encoding clips can take a minute) there is no loop to notice an event,
    so the signal interrupts; once running, the main loop wakes on the event and stops the
    children in order.
    """
    started = threading.Event()

    def handler(signum: int, frame: FrameType | None) -> None:
        if not started.is_set():
            raise KeyboardInterrupt
        stop.set()

    if threading.current_thread() is not threading.main_thread():
        yield started  # signals can only be handled in the main thread
        return
    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield started
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _print_summary(sim: CameraSimulator, run_dir: Path, options: Options) -> None:
    server = sim.server
    _say(
        f"camsim: {len(sim.camera_ids)} cameras, {options.width}x{options.height} at "
        f"{options.bitrate / 1e6:g} Mbit/s, rtsp://{server.host}:{server.rtsp_port} "
        f"(mediamtx API {server.api_url})"
    )
    for cam in sim.cameras:
        fault = f"  fault={cam.fault}" if cam.fault else ""
        _say(f"  {cam.id}  {redact_url(cam.url)}{fault}")
    _say(f"credentials: {run_dir / CAMERAS_FILE} (mode 0600)")
    _say(f"switch faults: nvr-camsim fault CAMERA FAULT|none --run-dir {run_dir}")
    _say(f"  faults: {', '.join(Fault)}; or edit {run_dir / FAULTS_FILE}")
    _say("stop: Ctrl-C")


def _say(text: str, err: bool = False) -> None:
    print(text, file=sys.stderr if err else sys.stdout, flush=True)


# -- camsim fault ------------------------------------------------------------------------


def _run_fault(args: argparse.Namespace) -> int:
    run_dir: Path = getattr(args, "run_dir", DEFAULT_RUN_DIR)
    try:
        fault = parse_fault(args.fault_name)
    except ValueError as err:
        raise UsageError(str(err)) from None
    faults_path = run_dir / FAULTS_FILE
    document = read_json(run_dir / CAMERAS_FILE)
    if not faults_path.is_file() or not pid_running(document.get("pid")):
        raise CamsimError(f"no camsim running with --run-dir {run_dir}")
    ids = [cam["id"] for cam in document.get("cameras", [])]
    if args.camera not in ids:
        raise UsageError(f"no camera {args.camera!r} (cameras: {', '.join(ids)})")
    wanted = parse_faults(read_json(faults_path), faults_path)
    wanted[args.camera] = fault
    write_private_json(faults_path, fault_names(wanted))
    _wait_applied(run_dir, args.camera, fault, args.timeout)
    _say(f"{args.camera}: fault {fault or 'none'}")
    return EXIT_OK


def _wait_applied(run_dir: Path, camera: str, fault: Fault | None, timeout: float) -> None:
    """Wait until the running camsim reports the camera's new fault in cameras.json."""
    want = fault.value if fault else None
    deadline = monotonic() + timeout
    pause = threading.Event()
    while monotonic() < deadline:
        try:
            cameras = read_json(run_dir / CAMERAS_FILE).get("cameras", [])
        except CamsimError:
            cameras = []  # being replaced right now
        if any(c.get("id") == camera and c.get("fault") == want for c in cameras):
            return
        pause.wait(0.2)
    raise CamsimError(f"camsim did not apply {camera}={want or 'none'} within {timeout:.0f} s")
