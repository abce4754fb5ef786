"""`make demo`: simulated cameras and every daemon that exists so far, in the foreground.

Everything lives under run/demo/ (ignored by git): config, state file, recordings, logs.
One camera drops out now and then so the recovery paths show. Ctrl-C stops it all cleanly.
The demo issue replaces this with the full suite under supervisord.
"""

from __future__ import annotations

import importlib.util
import signal
import subprocess
import sys
import threading
from pathlib import Path
from types import FrameType

import yaml

from nvr.camsim import CameraSimulator
from nvr.camsim.faults import Fault
from nvr.core.errors import NvrError
from nvr.core.notify import child_environment
from nvr.core.redact import redact_url

RUN = Path("run/demo")
DAEMONS = ("backup", "hddmon", "validator", "report", "uplink", "livestream", "health")
FLAKY_CAMERA = "cam04"
FLAKY_PERIOD_S, FLAKY_DOWN_S = 120.0, 30.0


def write_config(sim: CameraSimulator) -> Path:
    """A config pointing every daemon at the simulated cameras and run/demo."""
    (RUN / "recordings").mkdir(parents=True, exist_ok=True)
    (RUN / "state").mkdir(parents=True, exist_ok=True)
    config = {
        "site": {"id": "demo-01", "name": "Demo site"},
        "storage": {
            "recordings_dir": str((RUN / "recordings").resolve()),
            "state_file": str((RUN / "state" / "state.db").resolve()),
        },
        "recording": {"segment_seconds": 60},
        "cameras": [
            {"id": cid, "name": f"Demo camera {cid[-2:]}", "url": sim.camera_url(cid)}
            for cid in sim.camera_ids
        ],
    }
    path = RUN / "nvr.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    path.chmod(0o600)  # it holds the camera passwords
    return path


def start_daemons(config: Path, procs: dict[str, subprocess.Popen[bytes]]) -> None:
    """Start each daemon whose package exists into `procs`, logging to run/demo/logs/."""
    logs = RUN / "logs"
    logs.mkdir(exist_ok=True)
    for name in DAEMONS:
        if importlib.util.find_spec(f"nvr.{name}") is None:
            continue  # not built yet
        with (logs / f"nvr-{name}.log").open("ab") as log:
            procs[name] = subprocess.Popen(
                [sys.executable, "-m", f"nvr.{name}.main", "--config", str(config)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=child_environment(),
            )


def stop_daemons(procs: dict[str, subprocess.Popen[bytes]]) -> None:
    """SIGTERM every daemon, then wait; kill what does not stop."""
    for proc in procs.values():
        proc.send_signal(signal.SIGTERM)
    for name, proc in procs.items():
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            print(f"nvr-{name} did not stop in 30 s; killing it", file=sys.stderr)
            proc.kill()


def flap(sim: CameraSimulator, stop: threading.Event) -> None:
    """Take one camera offline for a while, now and then."""
    while not stop.wait(FLAKY_PERIOD_S):
        sim.set_fault(FLAKY_CAMERA, Fault.OFFLINE)
        if stop.wait(FLAKY_DOWN_S):
            break
        sim.set_fault(FLAKY_CAMERA, None)


def print_guide(sim: CameraSimulator, config: Path, daemons: list[str]) -> None:
    """What to look at."""
    print("\nNVR demo running. Cameras (passwords in run/demo/nvr.yaml):")
    for cid in sim.camera_ids:
        print(f"  {cid}  {redact_url(sim.camera_url(cid))}")
    print(f"Daemons: {', '.join('nvr-' + d for d in daemons)}  (logs: {RUN}/logs/)")
    print(f"{FLAKY_CAMERA} goes offline for {FLAKY_DOWN_S:.0f}s every {FLAKY_PERIOD_S:.0f}s.")
    print("Try:")
    print(f"  .venv/bin/nvrctl recordings list --config {config} --camera cam01")
    print(
        f"  .venv/bin/nvrctl coverage --config {config} --camera {FLAKY_CAMERA}"
        " --from=-15m --to=now"
    )
    print(f"  sqlite3 {RUN}/state/state.db 'select daemon, state, status from heartbeats'")
    print("Ctrl-C stops everything.\n")


def main() -> int:
    """Run the demo until Ctrl-C or SIGTERM."""
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    procs: dict[str, subprocess.Popen[bytes]] = {}
    try:
        with CameraSimulator(RUN / "camsim", 4) as sim:
            config = write_config(sim)
            try:
                start_daemons(config, procs)
                threading.Thread(target=flap, args=(sim, stop), daemon=True).start()
                print_guide(sim, config, list(procs))
                stop.wait()
                print("stopping...")
            finally:
                # Also on an error half-way through start-up: no daemon is left behind.
                stop_daemons(procs)
    except NvrError as err:
        print(f"demo: error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
