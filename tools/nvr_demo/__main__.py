"""`make demo` (`python -m nvr_demo`): the whole suite on simulated cameras until Ctrl-C.

Everything lives in run/demo/ (ignored by git): config, secrets, state, recordings, logs,
the head office's database. Ports are fixed (from 18000) so the printed URLs stay valid.
One camera drops out now and then, so the recovery paths show.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from nvr.core.errors import NvrError
from nvr_demo.stack import VIEWER_PASSWORD, VIEWER_USER, Ports, Stack, StackOptions

RUN_DIR = Path("run/demo")
PORT_BASE = 18000
FLAKY_CAMERA = "cam04"
FLAKY_PERIOD_S, FLAKY_DOWN_S = 180.0, 45.0


def flap(stack: Stack, camera: str, stop: threading.Event) -> None:
    """Take one camera offline for a while, now and then."""
    while not stop.wait(FLAKY_PERIOD_S):
        stack.set_fault(camera, "offline")
        if stop.wait(FLAKY_DOWN_S):
            break
        stack.set_fault(camera, None)


def print_guide(stack: Stack, flaky: str | None) -> None:
    """What to open and what to try."""
    ports, conf, config = stack.ports, stack.conf, stack.config_path
    print(f"""
NVR demo running: {stack.options.cameras} simulated cameras, every daemon under supervisord.
  Status page (technicians)   {stack.health_url}/   (log in as the viewer below)
  /health (NOC), /metrics     {stack.health_url}/health   {stack.health_url}/metrics
  Head office receiver        {stack.headoffice_url}/     (API: {stack.headoffice_url}/api/sites)
  Live view (viewer API)      {stack.livestream_url}/api/streams
    as user {VIEWER_USER}, password {VIEWER_PASSWORD}
    e.g. HLS                  http://127.0.0.1:{ports.live_hls}/cam01/index.m3u8
  MQTT                        mosquitto_sub -h 127.0.0.1 -p {ports.mqtt} -t 'status/#' -v
  MinIO (if started)          http://127.0.0.1:{ports.minio_console}/  (cam01 is copied offsite;
                              login nvr-demo, key in {stack.run_dir}/secrets/minio.key)
Try:
  supervisorctl -c {conf} status
  .venv/bin/nvrctl status --config {config}
  .venv/bin/nvrctl coverage --config {config} --camera {flaky or "cam01"} --from=-15m --to=now
  kill -9 $(supervisorctl -c {conf} pid nvr:nvr-backup)    # watch /health and the gap
Logs: {stack.logs}/   Config: {config}""")
    if flaky:
        print(f"{flaky} goes offline for {FLAKY_DOWN_S:.0f}s every {FLAKY_PERIOD_S:.0f}s.")
    print("Ctrl-C stops everything.\n", flush=True)


def main(argv: list[str] | None = None) -> int:
    """Run the demo until Ctrl-C or SIGTERM."""
    parser = argparse.ArgumentParser(prog="make demo", description=__doc__)
    parser.add_argument("--cameras", type=int, default=4, help="simulated cameras (default 4)")
    parser.add_argument("--no-minio", action="store_true", help="leave MinIO out")
    parser.add_argument("--run-dir", type=Path, default=RUN_DIR, help=f"(default {RUN_DIR})")
    parser.add_argument(
        "--port-base", type=int, default=PORT_BASE, help=f"first of 13 ports (default {PORT_BASE})"
    )
    parser.add_argument(
        "--mediamtx-config",
        type=Path,
        default=StackOptions.live_mediamtx_config,
        help="the live-view mediamtx config to start from (default %(default)s)",
    )
    args = parser.parse_args(argv)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    options = StackOptions(
        cameras=args.cameras,
        with_minio=not args.no_minio,
        ports=Ports.fixed(args.port_base),
        status_interval_minutes=1,
        live_mediamtx_config=args.mediamtx_config,
    )
    flaky = FLAKY_CAMERA if args.cameras >= 4 else None
    try:
        print("starting (the first run encodes the camera clips: about a minute)...", flush=True)
        with Stack(args.run_dir, options) as stack:
            if flaky:
                threading.Thread(target=flap, args=(stack, flaky, stop), daemon=True).start()
            print_guide(stack, flaky)
            stop.wait()
            print("stopping (every daemon gets SIGTERM and closes its files)...", flush=True)
    except NvrError as err:
        print(f"demo: error: {err}", file=sys.stderr)
        return 1
    print("stopped.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
