"""Recording first on a busy box (issue 17): nvr-backup records N cameras while the
validator, clip exports and status-page scrapes run beside it; count the recording gaps.

    NVR_MEDIAMTX_BIN=... .venv/bin/python tests/bench/bench_recording_first.py \\
        [--cameras 32] [--seconds 120] [--segment-seconds 10]

Every daemon runs as its unit would, with the unit's `Nice=` (read from systemd/*.service).
`CPUWeight=`/`IOWeight=` need the unit's cgroup, which this script does not create: under
real systemd the recorder is ranked higher still (tests/appliance runs the units). A gap is
two consecutive segments of a camera more than GAP_MS apart, or a camera with no segment
in the window. Writes tests/bench/results/recording_first.json and .md.
"""

from __future__ import annotations

import argparse
import itertools
import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil
import requests
import yaml
from benchlib import write_results

from nvr.core.process import child_environment
from nvr_camsim import CameraSimulator

REPO = Path(__file__).resolve().parents[2]
RESULTS = Path(__file__).with_name("results")
WIDTH, HEIGHT, BITRATE = 1920, 1080, 4_000_000
GAP_MS = 2_000
WARMUP_S = 20
SCRAPE_EVERY_S = 2.0
EXPORT_EVERY_S = 15.0
STOP_TIMEOUT_S = 30.0
DAEMONS = {"backup": "nvr-backup", "validator": "nvr-validator", "health": "nvr-health"}


def unit_nice(daemon: str) -> int:
    """The `Nice=` of the daemon's unit (0 when the unit sets none)."""
    for line in (REPO / "systemd" / f"{daemon}.service").read_text().splitlines():
        if line.startswith("Nice="):
            return int(line.split("=", 1)[1])
    return 0


def free_port() -> int:
    """A loopback TCP port nobody listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_config(root: Path, sim: CameraSimulator, segment_seconds: int, port: int) -> Path:
    """One nvr.yaml shared by the three daemons, as on the box."""
    config = {
        "site": {"id": "bench-01"},
        "storage": {
            "recordings_dir": str(root / "recordings"),
            "state_file": str(root / "state" / "state.db"),
        },
        "recording": {"segment_seconds": segment_seconds},
        "validation": {"interval_seconds": 10, "workers": 2},
        "health": {"listen": f"127.0.0.1:{port}"},
        "cameras": [{"id": cid, "url": sim.camera_url(cid)} for cid in sim.camera_ids],
    }
    (root / "recordings").mkdir(parents=True)
    (root / "state").mkdir(parents=True)
    path = root / "nvr.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def start_daemon(module: str, unit: str, config: Path, log: Path) -> subprocess.Popen[bytes]:
    """`python -m nvr.<module>.main` at its unit's nice level."""
    nice = unit_nice(unit)
    with log.open("wb") as handle:
        return subprocess.Popen(
            [sys.executable, "-m", f"nvr.{module}.main", "--config", str(config)],
            stdin=subprocess.DEVNULL,
            stdout=handle,
            stderr=subprocess.STDOUT,
            env=child_environment(),
            preexec_fn=lambda: os.nice(nice),
        )


class Load(threading.Thread):
    """Repeats `action` every `every` seconds until stopped; counts successes and failures."""

    def __init__(self, name: str, every: float, action: Any) -> None:
        super().__init__(name=name, daemon=True)
        self.every, self.action = every, action
        self.done = self.failed = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(self.every):
            try:
                ok = self.action()
            except (requests.RequestException, subprocess.SubprocessError, OSError):
                ok = False
            self.done += ok
            self.failed += not ok


def scrape(port: int) -> bool:
    """One NOC scrape and one technician's status page."""
    base = f"http://127.0.0.1:{port}"
    metrics = requests.get(f"{base}/metrics", timeout=10)
    page = requests.get(f"{base}/", timeout=10)
    return metrics.ok and page.status_code in (200, 401)


def export(config: Path, root: Path, sim: CameraSimulator) -> bool:
    """nvrctl exports the last minute of one camera, as a technician would for an incident."""
    end = time.time() - 5
    camera = sim.camera_ids[int(end) % len(sim.camera_ids)]
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    done = subprocess.run(
        [str(Path(sys.executable).with_name("nvrctl")), "export", "--camera", camera,
         f"--from={time.strftime(fmt, time.gmtime(end - 60))}",
         f"--to={time.strftime(fmt, time.gmtime(end))}", "-o", str(root / "clip.mp4"),
         "--config", str(config)],
        capture_output=True, check=False, timeout=120, env=child_environment(),
    )  # fmt: skip
    return done.returncode == 0


def gaps(
    state_file: Path, cameras: list[str], start_ms: int, end_ms: int
) -> tuple[dict[str, int], int]:
    """Per camera, the gaps over GAP_MS between its segments inside the window; and how
    many segments the window holds (so zero gaps is not zero segments)."""
    conn = sqlite3.connect(f"file:{state_file}?mode=ro", uri=True, timeout=10)
    try:
        found, segments = {}, 0
        for camera in cameras:
            rows = conn.execute(
                "SELECT start_ms, end_ms FROM segments WHERE camera = ? AND end_ms > ?"
                " AND start_ms < ? ORDER BY start_ms",
                (camera, start_ms, end_ms),
            ).fetchall()
            holes = sum(b[0] - a[1] > GAP_MS for a, b in itertools.pairwise(rows))
            found[camera] = holes if rows else 1
            segments += len(rows)
        return found, segments
    finally:
        conn.close()


def run(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """Start the simulator and the daemons, load the box, measure, stop."""
    with CameraSimulator(
        workdir / "sim", cameras=args.cameras, width=WIDTH, height=HEIGHT, bitrate=BITRATE
    ) as sim:
        root = workdir / "box"
        port = free_port()
        config = write_config(root, sim, args.segment_seconds, port)
        procs = {
            unit: start_daemon(module, unit, config, root / f"{unit}.log")
            for module, unit in DAEMONS.items()
        }
        loads = [
            Load("scrape", SCRAPE_EVERY_S, lambda: scrape(port)),
            Load("export", EXPORT_EVERY_S, lambda: export(config, root, sim)),
        ]
        try:
            time.sleep(WARMUP_S + args.segment_seconds)
            for load in loads:
                load.start()
            cpu0 = psutil.cpu_times()
            start_ms = int(time.time() * 1000)
            time.sleep(args.seconds)
            end_ms = int(time.time() * 1000)
            cpu1 = psutil.cpu_times()
        finally:
            for load in loads:
                load.stop.set()
            for proc in procs.values():
                proc.terminate()
            for proc in procs.values():
                proc.wait(STOP_TIMEOUT_S)
        # The window's last segment closes at the stop: judge [start, end - one segment].
        found, segments = gaps(root / "state" / "state.db", sim.camera_ids, start_ms,
                     end_ms - args.segment_seconds * 1000)  # fmt: skip
        validations = _count(root, "SELECT count(*) FROM validations WHERE checked_at_ms > ?",
                             start_ms)  # fmt: skip
    busy = sum(cpu1) - sum(cpu0)
    return {
        "cameras": args.cameras,
        "window_s": args.seconds,
        "segment_seconds": args.segment_seconds,
        "recording_gaps": sum(found.values()),
        "segments_in_window": segments,
        "cameras_with_gaps": sorted(c for c, n in found.items() if n),
        "validations_in_window": validations,
        "scrapes": {"ok": loads[0].done, "failed": loads[0].failed},
        "exports": {"ok": loads[1].done, "failed": loads[1].failed},
        "machine_busy_percent": round(100 * (busy - (cpu1.idle - cpu0.idle)) / busy, 1),
        "nice": {unit: unit_nice(unit) for unit in DAEMONS.values()},
        "cgroup_weights_applied": False,
        "nproc": os.cpu_count(),
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def _count(root: Path, sql: str, *params: Any) -> int:
    conn = sqlite3.connect(f"file:{root / 'state' / 'state.db'}?mode=ro", uri=True, timeout=10)
    try:
        return int(conn.execute(sql, params).fetchone()[0])
    finally:
        conn.close()


def markdown(result: dict[str, Any]) -> str:
    """The result as a short Markdown page."""
    return "\n".join(
        [
            "# Recording first on a busy box",
            "",
            f"{result['cameras']} simulated cameras at {WIDTH}x{HEIGHT}, {BITRATE // 10**6}"
            f" Mbit/s, {result['segment_seconds']} s segments, recorded by nvr-backup for a"
            f" {result['window_s']} s window while nvr-validator validates every 10 s, nvr-health"
            f" is scraped (/metrics and the status page) every {SCRAPE_EVERY_S:.0f} s and"
            f" nvrctl exports a minute of video every {EXPORT_EVERY_S:.0f} s, on"
            f" {result['nproc']} CPUs. Nice levels from the units: {result['nice']};"
            " CPUWeight/IOWeight not applied (no unit cgroups here).",
            "",
            "| recording gaps | cameras with gaps | segments in window | validation rows"
            " | scrapes ok/failed | exports ok/failed | machine busy % |",
            "|---|---|---|---|---|---|---|",
            f"| {result['recording_gaps']} | {', '.join(result['cameras_with_gaps']) or 'none'}"
            f" | {result['segments_in_window']} | {result['validations_in_window']}"
            f" | {result['scrapes']['ok']}/{result['scrapes']['failed']}"
            f" | {result['exports']['ok']}/{result['exports']['failed']}"
            f" | {result['machine_busy_percent']} |",
            "",
            f"Target: zero gaps (two segments more than {GAP_MS} ms apart, or a camera without"
            " a segment). Run: `.venv/bin/python tests/bench/bench_recording_first.py`.",
            "",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    """Run once and write the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cameras", type=int, default=32)
    parser.add_argument("--seconds", type=int, default=120)
    parser.add_argument("--segment-seconds", type=int, default=10)
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-first-") as tmp:
        result = run(args, Path(tmp))
    write_results("recording_first", result, markdown(result), args.results, markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
