"""Recording first on a busy box (issue 17): nvr-backup records N cameras while the
validator, clip exports and status-page scrapes run beside it; count the recording gaps.

    NVR_MEDIAMTX_BIN=... .venv/bin/python tests/bench/bench_recording_first.py \\
        [--cameras 32] [--seconds 120] [--segment-seconds 10]

Every daemon runs as its unit would, with the unit's `Nice=` (read from systemd/*.service)
and, where this script may create cgroups (root; cgroup v1's cpu and memory hierarchies or
v2), in cgroups of its own with the unit's `CPUWeight=` as systemd would set it (v1:
cpu.shares = weight x 1024 / 100) and its `MemoryMax=` (v1: memory.limit_in_bytes, which
like v2's memory.max counts the page cache the unit's writes cause): the ffmpeg children
inherit both, and the result says each group's peak memory and OOM kills. The simulated
cameras and the exports (a technician's nvrctl) stay outside, as they are outside the units
on a box. `IOWeight=` is not applied (v1's blkio weights act only under the BFQ scheduler;
v2's io controller only where it is enabled). A gap is two
consecutive segments of a camera more than GAP_MS apart, or a camera with no segment in the
window. Writes tests/bench/results/recording_first.json and .md.
"""

from __future__ import annotations

import argparse
import contextlib
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
CGROUP_ROOT = Path("/sys/fs/cgroup")
DEFAULT_CPU_WEIGHT = 100  # systemd's, for a unit that sets none
SIZE_SUFFIXES = {"K": 2**10, "M": 2**20, "G": 2**30}


def unit_setting(daemon: str, key: str, default: int) -> int:
    """An integer setting (`Nice=`, `CPUWeight=`, `MemoryMax=` with K/M/G) of the daemon's
    unit, else `default`."""
    for line in (REPO / "systemd" / f"{daemon}.service").read_text().splitlines():
        if line.startswith(f"{key}="):
            value = line.split("=", 1)[1]
            if value[-1] in SIZE_SUFFIXES:
                return int(value[:-1]) * SIZE_SUFFIXES[value[-1]]
            return int(value)
    return default


def unit_nice(daemon: str) -> int:
    """The `Nice=` of the daemon's unit (0 when the unit sets none)."""
    return unit_setting(daemon, "Nice", 0)


class UnitCgroups:
    """Per daemon, cgroups with its unit's CPUWeight= and MemoryMax=, under groups of this run."""

    def __init__(self) -> None:
        v2 = CGROUP_ROOT / "cgroup.controllers"
        self.v2 = v2.exists() and {"cpu", "memory"} <= set(v2.read_text().split())
        name = f"nvr-bench-{os.getpid()}"
        # v2: one group holds both; v1: the cpu and the memory hierarchies each hold one.
        self.bases = [CGROUP_ROOT / name] if self.v2 else [
            CGROUP_ROOT / "cpu" / name, CGROUP_ROOT / "memory" / name
        ]  # fmt: skip
        self.weights: dict[str, int] = {}
        self.memory_max: dict[str, int] = {}
        self.problem = ""

    def prepare(self, unit: str) -> list[Path]:
        """The unit's groups, made with its settings; none (and `problem` said) if we may not."""
        weight = unit_setting(unit, "CPUWeight", DEFAULT_CPU_WEIGHT)
        memory_max = unit_setting(unit, "MemoryMax", 0)
        groups = [base / unit for base in self.bases]
        try:
            for group in groups:
                group.mkdir(parents=True, exist_ok=True)
            if self.v2:
                (self.bases[0] / "cgroup.subtree_control").write_text("+cpu +memory")
                (groups[0] / "cpu.weight").write_text(str(weight))
                (groups[0] / "memory.max").write_text(str(memory_max or "max"))
            else:
                (groups[0] / "cpu.shares").write_text(str(weight * 1024 // DEFAULT_CPU_WEIGHT))
                if memory_max:
                    (groups[1] / "memory.limit_in_bytes").write_text(str(memory_max))
        except OSError as exc:
            self.problem = f"cgroups not created ({self.bases[0]}: {exc.strerror})"
            return []
        self.weights[unit] = weight
        self.memory_max[unit] = memory_max
        return groups

    def memory(self) -> dict[str, dict[str, int]]:
        """Per unit: its MemoryMax, the group's peak memory (page cache included) and the
        OOM kills inside it; read before remove()."""
        found = {}
        for unit, limit in self.memory_max.items():
            group = self.bases[-1] / unit
            if self.v2:
                peak = int((group / "memory.peak").read_text())
                events = (group / "memory.events").read_text().split()
            else:
                peak = int((group / "memory.max_usage_in_bytes").read_text())
                events = (group / "memory.oom_control").read_text().split()
            kills = int(events[events.index("oom_kill") + 1]) if "oom_kill" in events else 0
            found[unit] = {"memory_max": limit, "peak": peak, "oom_kills": kills}
        return found

    def remove(self) -> None:
        """Remove the groups (their processes have exited)."""
        for base in self.bases:
            for group in [*(base / unit for unit in self.weights), base]:
                with contextlib.suppress(OSError):
                    group.rmdir()


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


def start_daemon(
    module: str, unit: str, config: Path, log: Path, groups: list[Path]
) -> subprocess.Popen[bytes]:
    """`python -m nvr.<module>.main` at its unit's nice level, in its unit's cgroups."""
    nice = unit_nice(unit)

    def as_the_unit() -> None:
        # In the child before exec: its ffmpeg children are then born in the groups.
        os.nice(nice)
        for group in groups:
            (group / "cgroup.procs").write_text(str(os.getpid()))

    with log.open("wb") as handle:
        return subprocess.Popen(
            [sys.executable, "-m", f"nvr.{module}.main", "--config", str(config)],
            stdin=subprocess.DEVNULL,
            stdout=handle,
            stderr=subprocess.STDOUT,
            env=child_environment(),
            preexec_fn=as_the_unit,
        )


class Load(threading.Thread):
    """Repeats `action` every `every` seconds until stopped; counts successes and failures."""

    def __init__(self, name: str, every: float, action: Any) -> None:
        super().__init__(name=name, daemon=True)
        self.every, self.action = every, action
        self.done = self.failed = 0
        self.last_error = ""  # why the last failure failed, for the result
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(self.every):
            try:
                ok = self.action()
            except (requests.RequestException, subprocess.SubprocessError, OSError) as exc:
                ok = False
                self.last_error = str(exc)[-300:]
            self.done += ok
            self.failed += not ok


def scrape(port: int) -> bool:
    """One NOC scrape and one technician's status page."""
    base = f"http://127.0.0.1:{port}"
    metrics = requests.get(f"{base}/metrics", timeout=10)
    page = requests.get(f"{base}/", timeout=10)
    return metrics.ok and page.status_code in (200, 401)


def export(config: Path, root: Path, sim: CameraSimulator) -> bool:
    """nvrctl exports the last minute of one camera, as a technician would for an incident.

    A refusal raises with nvrctl's last line, which the result keeps."""
    end = time.time() - 5
    camera = sim.camera_ids[int(end) % len(sim.camera_ids)]
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    done = subprocess.run(
        [str(Path(sys.executable).with_name("nvrctl")), "export", "--camera", camera,
         f"--from={time.strftime(fmt, time.gmtime(end - 60))}",
         f"--to={time.strftime(fmt, time.gmtime(end))}", "-o", str(root / f"clip-{end:.0f}.mp4"),
         "--config", str(config)],
        capture_output=True, text=True, check=False, timeout=120, env=child_environment(),
    )  # fmt: skip
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines() or ["(no output)"]
        raise subprocess.SubprocessError(f"nvrctl export exit {done.returncode}: {lines[-1]}")
    return True


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
        cgroups = UnitCgroups()
        procs = {
            unit: start_daemon(module, unit, config, root / f"{unit}.log", cgroups.prepare(unit))
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
            memory = cgroups.memory()
            cgroups.remove()
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
        "last_errors": {load.name: load.last_error for load in loads if load.last_error},
        "machine_busy_percent": round(100 * (busy - (cpu1.idle - cpu0.idle)) / busy, 1),
        "nice": {unit: unit_nice(unit) for unit in DAEMONS.values()},
        "cpu_weights": cgroups.weights,  # the units' CPUWeight= in force, by unit
        # The units' MemoryMax= in force, each group's peak (page cache included), OOM kills.
        "memory": memory,
        "cgroups": "v2" if cgroups.v2 else "v1 cpu and memory",
        "cgroup_problem": cgroups.problem,
        "nproc": os.cpu_count(),
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def _count(root: Path, sql: str, *params: Any) -> int:
    conn = sqlite3.connect(f"file:{root / 'state' / 'state.db'}?mode=ro", uri=True, timeout=10)
    try:
        return int(conn.execute(sql, params).fetchone()[0])
    finally:
        conn.close()


def weights(result: dict[str, Any]) -> str:
    """The weights in force, or why there were none."""
    if result["cgroup_problem"] or not result["cpu_weights"]:
        return f"none, {result['cgroup_problem'] or 'no cgroups'}"
    return ", ".join(f"{unit} {weight}" for unit, weight in result["cpu_weights"].items())


def memory_line(result: dict[str, Any]) -> str:
    """Each unit's MemoryMax, its group's peak memory and OOM kills, in MiB."""
    if not result.get("memory"):
        return "none"
    return ", ".join(
        f"{unit} {m['memory_max'] // 2**20 or 'no limit'} / {m['peak'] // 2**20} MiB,"
        f" {m['oom_kills']} killed"
        for unit, m in result["memory"].items()
    )


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
            f" {result['nproc']} CPUs. Nice levels from the units: {result['nice']}; the"
            f" units' CPUWeight in {result['cgroups']} cgroups: {weights(result)}."
            f" MemoryMax in force, peak use and OOM kills: {memory_line(result)}."
            " IOWeight not applied.",
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
            *(f"Last {name} failure: {error}" for name, error in result["last_errors"].items()),
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
