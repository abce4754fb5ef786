"""Benchmark of nvr-backup against bare ffmpeg and mediamtx's recorder (issues 3 and 17).

    NVR_MEDIAMTX_BIN=... .venv/bin/python tests/bench/bench_backup.py \\
        [--cameras 8 16 32] [--rounds 3] [--seconds 60] [--warmup 15] [--segment-seconds 60]

For each camera count, one camera simulator (1080p, 4 Mbit/s, `-re -c copy` publishers)
feeds three recorders, one after another, each for the same steady-state window:

- nvr-backup: `python -m nvr.backup.main` with one camera entry per simulated camera;
  measured as its whole process tree (the Python supervisor plus its ffmpeg children);
- bare ffmpeg: the very argv and binary nvr-backup would run (`build_command(..., "copy")`,
  `recording_ffmpeg()`: ffmpeg-rec when installed), one
  process per camera, started by this script, output to files;
- mediamtx: a second mediamtx pulling every camera (`sourceOnDemand: no`) and recording
  it (`record: yes`, fmp4, the same segment length).

CPU is user+system time over the window, read from /proc through psutil: for each live
process of a tree its own time plus `children_user/children_system` (what it reaped), so a
child that exits inside the window is still counted once. RSS is summed over the tree
every second. The simulator (its mediamtx and publishers) is measured apart and never
counted in a variant. The window starts after the warm-up and after the run's first
segment cut, at least SETTLE_S after a segment boundary, so that every variant's window
holds the same number of cuts of full-length segments and the indexing of each cut
(hashing, fsync, SQLite row) falls inside it.

Each variant runs `--rounds` times (at least 3), interleaved (round r starts with variant
r mod 3), so a drift of the machine's load hits every variant alike; the figures are the
median over the rounds and the spread (max - min) / median. The floor is what recording
cannot cost less than: bare ffmpeg with nvr-backup's argv plus SHA-256 of the bytes it wrote
(at this machine's SHA-256 speed, measured in the same run), since the index hashes every
segment. `ratio_vs_floor` is the median of each round's nvr-backup / floor (paired rounds
ran minutes apart), `ratio_spread` the max - min of those ratios: a difference smaller than
the spread is noise.

Writes tests/bench/results/backup.json (a list of rows, one per camera count) and
backup.md.
"""

from __future__ import annotations

import argparse
import ctypes
import hashlib
import logging
import os
import platform
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import psutil
import yaml
from benchlib import nvr_config, write_results

from nvr.backup.command import build_command, recording_ffmpeg
from nvr.backup.paths import ensure_staging_directory
from nvr.core.config import parse_config
from nvr.core.process import child_environment
from nvr_camsim import CameraSimulator
from nvr_camsim.mediamtx import MediamtxServer

log = logging.getLogger("bench_backup")

RESULTS = Path(__file__).with_name("results")
WIDTH, HEIGHT, BITRATE = 1920, 1080, 4_000_000
DEFAULT_CAMERAS = (8, 16, 32)
DEFAULT_SECONDS = 60
DEFAULT_WARMUP = 15
DEFAULT_SEGMENT_SECONDS = 60
SETTLE_S = 15.0  # the window starts at least this long after a segment boundary
SAMPLE_S = 1.0
STOP_TIMEOUT_S = 30.0
MIB = 1024 * 1024
TARGET_VS_FLOOR = 1.03
TARGET_VS_MEDIAMTX = 1.0
TARGET_PSS_MB_PER_CAMERA = 8.0
DEFAULT_ROUNDS = 3
VARIANTS = ("nvr_backup", "ffmpeg", "mediamtx")
_PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True)


def _die_with_parent() -> None:
    """In a child between fork and exec: SIGTERM it when this script dies (even by -9)."""
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


# -- measuring process trees ---------------------------------------------------------------


@dataclass(frozen=True)
class Snapshot:
    """CPU and memory of a process tree at one instant."""

    at: float
    cpu_s: float  # user+system of every live process, plus what each has reaped
    root_cpu_s: float  # user+system of the root processes alone
    rss_bytes: int
    pss_bytes: int  # proportional set size: shared library pages split between processes
    root_rss_bytes: int
    processes: int
    # per thread id of the first root: (kernel thread name, CPU seconds)
    threads: dict[int, tuple[str, float]] = field(default_factory=dict)
    # (PSS, USS) of each ffmpeg process: what one more camera costs, apart from Python
    ffmpeg_memory: list[tuple[int, int]] = field(default_factory=list)


def _cpu(times: Any, reaped: bool) -> float:
    own = float(times.user + times.system)
    return own + float(times.children_user + times.children_system) if reaped else own


class Tree:
    """The processes `roots()` names, with their descendants when `descendants` is set."""

    def __init__(
        self, roots: Callable[[], Iterable[int]], descendants: bool, threads: bool = False
    ) -> None:
        self._roots = roots
        self._descendants = descendants
        self._threads = threads

    def _processes(self) -> tuple[list[psutil.Process], list[psutil.Process]]:
        roots, others = [], []
        for pid in self._roots():
            try:
                root = psutil.Process(pid)
                roots.append(root)
                if self._descendants:
                    others.extend(root.children(recursive=True))
            except psutil.Error:
                continue  # exited: its time is in its parent's children_* when reaped
        return roots, others

    def snapshot(self) -> Snapshot:
        """Read every process of the tree now."""
        roots, others = self._processes()
        cpu = root_cpu = 0.0
        rss = pss = root_rss = count = 0
        threads: dict[int, tuple[str, float]] = {}
        ffmpeg_memory: list[tuple[int, int]] = []
        for index, proc in enumerate(roots + others):
            try:
                with proc.oneshot():
                    times = proc.cpu_times()
                    memory = proc.memory_full_info()
                    if proc.name().startswith("ffmpeg"):
                        ffmpeg_memory.append((memory.pss, memory.uss))
                    if index < len(roots):
                        root_cpu += _cpu(times, reaped=False)
                        root_rss += memory.rss
                    if index == 0 and self._threads:
                        threads = thread_times(proc.pid)
            except psutil.Error:
                continue
            cpu += _cpu(times, reaped=True)
            rss += memory.rss
            pss += memory.pss
            count += 1
        return Snapshot(
            time.time(), cpu, root_cpu, rss, pss, root_rss, count, threads, ffmpeg_memory
        )


def thread_times(pid: int) -> dict[int, tuple[str, float]]:
    """Each thread of `pid`: its kernel name and the CPU seconds it has run.

    From /proc/<pid>/task/<tid>/schedstat (nanoseconds on a CPU), not the tick counts of
    /stat: 64 progress readers that each run microseconds at a time would round to zero.
    nvr-backup names its threads (nvr.core.threadname); the main thread has the process's.
    """
    threads = {}
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            name = (task / "comm").read_text().strip()
            nanoseconds = int((task / "schedstat").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue  # the thread ended
        threads[int(task.name)] = (name, nanoseconds / 1e9)
    return threads


def thread_split(pid: int, before: Snapshot, after: Snapshot) -> dict[str, Any]:
    """CPU seconds of process `pid`'s threads in the window, summed by thread name.

    Threads that ended inside the window are missing (their time is still in the process
    total). nvr-backup: `main` (the supervisor loop), `indexer` (hash, fsync, row),
    `segment-sync` (the 5 s fsync of segments in progress), `ffmpeg-progress` and
    `ffmpeg-segments` (the readers of each child's stderr and stdout).
    """
    by_name: dict[str, float] = {}
    for tid, (name, cpu) in after.threads.items():
        key = "main" if tid == pid else name  # the main thread's id is the pid
        by_name[key] = by_name.get(key, 0.0) + cpu - before.threads.get(tid, (name, 0.0))[1]
    if not by_name:
        return {}
    return {
        "thread_cpu_s": {name: round(cpu, 3) for name, cpu in sorted(by_name.items())},
        "threads": len(after.threads),
    }


# Kernel threads that write dirty pages back (ext4's flushers, its journal): bare ffmpeg
# never fsyncs, so its writeback happens there and outside every measured process, while
# nvr-backup's 5 s fsync does part of it in its own threads (docs/design/recording.md, CPU).
KERNEL_WRITEBACK_PREFIXES = ("kworker", "jbd2")


def kernel_writeback_ticks() -> dict[int, int]:
    """CPU clock ticks each writeback kernel thread has used, by pid."""
    ticks: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue  # gone between the listing and the read
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        if comm.startswith(KERNEL_WRITEBACK_PREFIXES):
            fields = stat[stat.rindex(")") + 2 :].split()
            ticks[int(entry.name)] = int(fields[11]) + int(fields[12])  # utime, stime
    return ticks


def kernel_writeback_cpu_s(before: dict[int, int], after: dict[int, int]) -> float:
    """CPU seconds of the writeback threads between two readings.

    Only threads alive at both: kworkers come and go, and one that exited in the window
    would otherwise take its whole lifetime's CPU out of the sum.
    """
    ticks = sum(after[pid] - before[pid] for pid in before.keys() & after.keys())
    return round(ticks / os.sysconf("SC_CLK_TCK"), 2)


def machine_busy(before: Any, after: Any) -> dict[str, float]:
    """Share of all CPUs busy (not idle, not iowait) and in iowait between two cpu_times()."""
    total = sum(after) - sum(before)
    idle = after.idle - before.idle
    iowait = getattr(after, "iowait", 0.0) - getattr(before, "iowait", 0.0)
    if total <= 0:
        return {"machine_busy_percent": 0.0, "machine_iowait_percent": 0.0}
    return {
        "machine_busy_percent": round(100 * (total - idle - iowait) / total, 1),
        "machine_iowait_percent": round(100 * iowait / total, 1),
    }


# -- the recordings on disk ----------------------------------------------------------------

# The run token of the bare-ffmpeg baseline's file names (nvr-backup draws one per run).
BASELINE_RUN = "0ba5e11e"


def recording_files(root: Path) -> list[Path]:
    """Every media file under `root` (fMP4 or MPEG-TS)."""
    if not root.is_dir():
        return []
    return [p for p in root.rglob("*") if p.suffix in (".mp4", ".ts") and p.is_file()]


def disk_usage(root: Path) -> tuple[int, int]:
    """(files, bytes) of the recordings under `root`."""
    files = recording_files(root)
    total = 0
    for path in files:
        try:
            total += path.stat().st_size
        except FileNotFoundError:
            continue
    return len(files), total


def prepare_days(recordings: Path, cameras: Iterable[str]) -> None:
    """The directory ffmpeg writes into, for every camera: ffmpeg makes none."""
    for camera in cameras:
        ensure_staging_directory(recordings, camera)


def log_problems(path: Path, markers: tuple[str, ...], limit: int = 5) -> dict[str, Any]:
    """How many lines of a log contain one of `markers`, and the first few of them."""
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return {"problem_lines": 0, "first_problems": []}
    hits = [line for line in lines if any(m in line for m in markers)]
    return {"problem_lines": len(hits), "first_problems": hits[:limit]}


# -- the three recorders -------------------------------------------------------------------


class Recorder(Protocol):
    """One way of recording every simulated camera."""

    name: str
    recordings: Path

    @property
    def pid(self) -> int | None:
        """The process whose threads are broken down (nvr-backup's Python), else None."""

    def start(self) -> None:
        """Start recording every camera."""

    def tree(self) -> Tree:
        """The processes whose CPU and memory count."""

    def stop(self) -> None:
        """Stop and wait; safe to call twice."""

    def report(self) -> dict[str, Any]:
        """Health after stop: segments closed, indexed, problems in the logs."""


class NvrBackup:
    """nvr-backup itself, as systemd would run it (minus systemd)."""

    name = "nvr_backup"

    def __init__(self, root: Path, sim: CameraSimulator, segment_seconds: int) -> None:
        self.root = root
        self.recordings = root / "recordings"
        self.state_file = root / "state" / "state.db"
        self.config_path = root / "nvr.yaml"
        self.log_path = root / "nvr-backup.log"
        self.recordings.mkdir(parents=True)
        self.state_file.parent.mkdir(parents=True)
        config = nvr_config(root, sim, segment_seconds, "bench-01")
        self.config_path.write_text(yaml.safe_dump(config))
        self._proc: subprocess.Popen[bytes] | None = None
        self.exit_code: int | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def start(self) -> None:
        argv = [sys.executable, "-m", "nvr.backup.main", "--config", str(self.config_path)]
        with self.log_path.open("wb") as handle:
            self._proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=handle,
                stderr=subprocess.STDOUT,
                env=child_environment(),
                preexec_fn=_die_with_parent,
            )

    def tree(self) -> Tree:
        pid = self._proc.pid if self._proc else None
        return Tree(lambda: [pid] if pid else [], descendants=True, threads=True)

    def stop(self) -> None:
        if self._proc is None:
            return
        self._proc.send_signal(signal.SIGTERM)
        try:
            self.exit_code = self._proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self.exit_code = self._proc.wait()
        self._proc = None

    def report(self) -> dict[str, Any]:
        rows = dict(self._query("SELECT status, count(*) FROM segments GROUP BY status"))
        files, _ = disk_usage(self.recordings)
        return {
            "segment_files": files,
            "indexed_ok": rows.get("ok", 0),
            "indexed_other": {k: v for k, v in rows.items() if k != "ok"},
            "exit_code": self.exit_code,
            **log_problems(self.log_path, (" WARNING ", " ERROR ", " CRITICAL ", "Traceback")),
        }

    def _query(self, sql: str) -> list[tuple[Any, ...]]:
        try:
            conn = sqlite3.connect(f"file:{self.state_file}?mode=ro", uri=True, timeout=10)
        except sqlite3.Error:
            return []
        try:
            return list(conn.execute(sql).fetchall())
        except sqlite3.Error:
            return []
        finally:
            conn.close()


class BareFfmpeg:
    """One ffmpeg per camera with nvr-backup's exact argv, and nothing around it."""

    name = "ffmpeg"

    def __init__(self, root: Path, sim: CameraSimulator, segment_seconds: int) -> None:
        self.root = root
        self.recordings = root / "recordings"
        self.recordings.mkdir(parents=True)
        config = parse_config(nvr_config(root, sim, segment_seconds, "bench-01"), root / "nvr.yaml")
        ffmpeg = recording_ffmpeg()  # the binary nvr-backup runs, for the same argv
        self._argvs = {
            cam.id: build_command(
                ffmpeg, cam, config.recording, self.recordings, "copy", BASELINE_RUN, "tcp"
            ).argv
            for cam in config.cameras
        }
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self.exit_codes: dict[str, int] = {}
        self.pid = None

    def start(self) -> None:
        prepare_days(self.recordings, self._argvs)
        env = child_environment()
        env["TZ"] = "UTC"  # as nvr-backup runs it: file names and cuts in UTC
        for cid, argv in self._argvs.items():
            with (
                (self.root / f"{cid}.segments").open("wb") as out,
                (self.root / f"{cid}.stderr").open("wb") as err,
            ):
                self._procs[cid] = subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=err,
                    env=env,
                    start_new_session=True,
                    preexec_fn=_die_with_parent,
                )

    def tree(self) -> Tree:
        pids = [p.pid for p in self._procs.values()]
        return Tree(lambda: pids, descendants=False)

    def stop(self) -> None:
        for proc in self._procs.values():
            if proc.poll() is None:
                proc.terminate()  # ffmpeg closes its segment on SIGTERM
        for cid, proc in self._procs.items():
            try:
                self.exit_codes[cid] = proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                self.exit_codes[cid] = proc.wait()
        self._procs = {}

    def report(self) -> dict[str, Any]:
        listed = sum(
            len((self.root / f"{cid}.segments").read_text().splitlines()) for cid in self._argvs
        )
        problems = [
            line
            for cid in self._argvs
            for line in (self.root / f"{cid}.stderr").read_text(errors="replace").splitlines()
            if line and "=" not in line.split(" ")[0]  # not a `key=value` progress line
        ]
        files, _ = disk_usage(self.recordings)
        return {
            "segment_files": files,
            "segments_listed": listed,
            "exit_codes": sorted(set(self.exit_codes.values())),
            "problem_lines": len(problems),
            "first_problems": problems[:5],
        }


def recorder_paths(sim: CameraSimulator, recordings: Path, segment_seconds: int) -> dict[str, Any]:
    """mediamtx `paths`: pull every camera all the time and record it as fMP4."""
    common = {
        "sourceOnDemand": False,
        "rtspTransport": "tcp",
        "record": True,
        "recordFormat": "fmp4",
        "recordPath": str(recordings / "%path" / "%Y-%m-%d_%H-%M-%S-%f"),
        "recordSegmentDuration": f"{segment_seconds}s",
        "recordDeleteAfter": "0s",  # never delete during the bench
    }
    return {cid: {"source": sim.camera_url(cid), **common} for cid in sim.camera_ids}


class MediamtxRecorder:
    """A second mediamtx that pulls every simulated camera and records it itself."""

    name = "mediamtx"

    def __init__(self, root: Path, sim: CameraSimulator, segment_seconds: int) -> None:
        self.root = root
        self.recordings = root / "recordings"
        self.recordings.mkdir(parents=True)
        self._cameras = sim.camera_ids
        self._server = MediamtxServer(
            root / "mediamtx", paths=recorder_paths(sim, self.recordings, segment_seconds)
        )
        self.pid = None

    def start(self) -> None:
        self._server.start()
        missing = self._server.wait_available(self._cameras, 20.0)
        if missing:
            log.warning("mediamtx recorder: %d cameras not pulled after 20 s", len(missing))

    def tree(self) -> Tree:
        pid = self._server.pid
        return Tree(lambda: [pid] if pid else [], descendants=True)

    def stop(self) -> None:
        self._server.stop()

    def report(self) -> dict[str, Any]:
        files, _ = disk_usage(self.recordings)
        return {
            "segment_files": files,
            **log_problems(self._server.log_path, (" ERR ", " WAR ")),
        }


RECORDERS: dict[str, Callable[[Path, CameraSimulator, int], Recorder]] = {
    "nvr_backup": NvrBackup,
    "ffmpeg": BareFfmpeg,
    "mediamtx": MediamtxRecorder,
}


# -- one measurement -----------------------------------------------------------------------


def window_start(started: float, warmup: float, segment_seconds: int) -> float:
    """Where the window of a recorder started at `started` begins.

    The first instant after the warm-up that is at least SETTLE_S past a segment boundary,
    and past the first boundary after the start: so the cuts inside the window close
    full-length segments (the first segment of a run is short, and nvr-backup hashes
    every closed segment whole), and the indexing of each cut falls inside the window.
    """
    settle = min(SETTLE_S, segment_seconds / 2)
    first_cut = started - started % segment_seconds + segment_seconds
    earliest = max(started + warmup, first_cut + settle)
    phase = earliest % segment_seconds
    return earliest if phase >= settle else earliest - phase + settle


def sleep_until(when: float) -> None:
    """Sleep until the wall clock reads `when`."""
    while (left := when - time.time()) > 0:
        time.sleep(min(left, 1.0))


def simulator_tree(sim: CameraSimulator) -> Tree:
    """The simulator's mediamtx and publishers (measured apart, never in a variant)."""

    def pids() -> list[int]:
        found = [sim.publisher_pid(cid) for cid in sim.camera_ids] + [sim.server.pid]
        return [pid for pid in found if pid]

    return Tree(pids, descendants=True)


@dataclass
class Window:
    """What one steady-state window saw of a recorder."""

    samples: list[Snapshot]
    sim: tuple[Snapshot, Snapshot]
    disk: tuple[tuple[int, int], tuple[int, int]]
    machine: dict[str, float]
    kernel_writeback_cpu_s: float

    @property
    def seconds(self) -> float:
        return self.samples[-1].at - self.samples[0].at

    @property
    def cpu_s(self) -> float:
        return self.samples[-1].cpu_s - self.samples[0].cpu_s


def observe(recorder: Recorder, sim: CameraSimulator, start: float, seconds: float) -> Window:
    """Sample the recorder's tree every second from `start` for `seconds`."""
    tree, sim_tree = recorder.tree(), simulator_tree(sim)
    sleep_until(start)
    cpu0, sim0, disk0 = psutil.cpu_times(), sim_tree.snapshot(), disk_usage(recorder.recordings)
    kernel0 = kernel_writeback_ticks()
    samples = [tree.snapshot()]
    end = samples[0].at + seconds
    while (now := time.time()) < end:
        time.sleep(min(SAMPLE_S, end - now))
        samples.append(tree.snapshot())
    sim1, disk1 = sim_tree.snapshot(), disk_usage(recorder.recordings)
    return Window(
        samples,
        (sim0, sim1),
        (disk0, disk1),
        machine_busy(cpu0, psutil.cpu_times()),
        kernel_writeback_cpu_s(kernel0, kernel_writeback_ticks()),
    )


def ffmpeg_process_memory(samples: list[Snapshot]) -> dict[str, float | None]:
    """Mean PSS and USS of one ffmpeg process over the window (None: no ffmpeg in it).

    Per process rather than the tree over the cameras: the Python supervisor's share is
    left out, and USS (pages no other process shares) is what every further camera adds
    whatever the count, while PSS also holds its share of the libraries' code.
    """
    readings = [reading for s in samples for reading in s.ffmpeg_memory]
    if not readings:
        return {"ffmpeg_pss_mb_per_process": None, "ffmpeg_uss_mb_per_process": None}
    return {
        "ffmpeg_pss_mb_per_process": round(sum(p for p, _ in readings) / len(readings) / MIB, 2),
        "ffmpeg_uss_mb_per_process": round(sum(u for _, u in readings) / len(readings) / MIB, 2),
    }


def summarize(
    name: str, window: Window, cameras: int, report: dict[str, Any], pid: int | None = None
) -> dict[str, Any]:
    """The figures of one recorder in one window."""
    first, last = window.samples[0], window.samples[-1]
    rss = [s.rss_bytes for s in window.samples]
    (files0, bytes0), (files1, bytes1) = window.disk
    sim0, sim1 = window.sim
    summary: dict[str, Any] = {
        "cpu_s": round(window.cpu_s, 2),
        "cpu_percent_of_one_core": round(100 * window.cpu_s / window.seconds, 1),
        "window_s": round(window.seconds, 1),
        "rss_mb": round(sum(rss) / len(rss) / MIB, 1),
        "rss_mb_max": round(max(rss) / MIB, 1),
        "pss_mb": round(sum(s.pss_bytes for s in window.samples) / len(rss) / MIB, 1),
        **ffmpeg_process_memory(window.samples),
        "processes": last.processes,
        "segments_opened_in_window": files1 - files0,
        "written_bytes": bytes1 - bytes0,
        "written_mbit_s": round((bytes1 - bytes0) * 8 / window.seconds / 1e6, 2),
        "expected_mbit_s": round(cameras * BITRATE / 1e6, 2),
        "simulator_cpu_s": round(sim1.cpu_s - sim0.cpu_s, 2),
        "kernel_writeback_cpu_s": window.kernel_writeback_cpu_s,
        **window.machine,
        "health": report,
    }
    if name == "nvr_backup":
        summary["python_cpu_s"] = round(last.root_cpu_s - first.root_cpu_s, 2)
        summary["ffmpeg_children_cpu_s"] = round(summary["cpu_s"] - summary["python_cpu_s"], 2)
        python_rss = [s.root_rss_bytes for s in window.samples]
        summary["python_rss_mb"] = round(sum(python_rss) / len(python_rss) / MIB, 1)
        if pid is not None:
            summary.update(thread_split(pid, first, last))
    return summary


def measure(
    name: str, root: Path, sim: CameraSimulator, args: argparse.Namespace
) -> dict[str, Any]:
    """Start one recorder, measure its steady-state window, stop it, delete its files."""
    recorder = RECORDERS[name](root, sim, args.segment_seconds)
    log.info("%d cameras: %s starting", len(sim.camera_ids), name)
    started = time.time()
    recorder.start()
    try:
        pid = recorder.pid
        start = window_start(started, args.warmup, args.segment_seconds)
        window = observe(recorder, sim, start, args.seconds)
    finally:
        recorder.stop()
    summary = summarize(name, window, len(sim.camera_ids), recorder.report(), pid)
    shutil.rmtree(root, ignore_errors=True)
    log.info(
        "%d cameras: %s %.1f CPU s in %.0f s, RSS %.0f MiB, %.1f Mbit/s written",
        len(sim.camera_ids),
        name,
        summary["cpu_s"],
        summary["window_s"],
        summary["rss_mb"],
        summary["written_mbit_s"],
    )
    return summary


def interleaved(variants: list[str], rounds: int) -> list[tuple[int, str]]:
    """(round, variant) in run order: each round starts one variant later than the last."""
    order = []
    for index in range(rounds):
        shift = index % len(variants)
        order += [(index, name) for name in variants[shift:] + variants[:shift]]
    return order


def run_count(cameras: int, workdir: Path, args: argparse.Namespace) -> dict[str, Any]:
    """One simulator with `cameras` cameras; every variant `rounds` times, interleaved."""
    run_dir = workdir / f"{cameras:02d}cams"
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in args.variants}
    with CameraSimulator(
        run_dir / "sim", cameras=cameras, width=WIDTH, height=HEIGHT, bitrate=BITRATE
    ) as sim:
        for index, name in interleaved(args.variants, args.rounds):
            summary = measure(name, run_dir / f"{name}-{index}", sim, args)
            if name == "ffmpeg":
                summary["floor_cpu_s"] = floor_cpu(summary, args.sha256_mb_s)
            results[name].append(summary)
    shutil.rmtree(run_dir, ignore_errors=True)
    return row(cameras, results, args)


def floor_cpu(ffmpeg: dict[str, Any], sha256_mb_s: float) -> float:
    """Bare ffmpeg's CPU plus hashing the bytes it wrote: what recording cannot undercut."""
    cpu_s, written = float(ffmpeg["cpu_s"]), int(ffmpeg["written_bytes"])
    return round(cpu_s + written / 1e6 / sha256_mb_s, 2)


def median_spread(values: list[float]) -> tuple[float | None, float | None]:
    """Median and (max - min) / median; None when nothing was measured."""
    if not values:
        return None, None
    middle = statistics.median(values)
    spread = (max(values) - min(values)) / middle if middle else None
    return round(middle, 3), None if spread is None else round(spread, 3)


def _paired(
    results: dict[str, list[dict[str, Any]]], key: str, base: str, with_kernel: bool = False
) -> list[float]:
    """Per round, nvr-backup's CPU over the baseline's `key` (rounds ran close in time).

    `with_kernel` adds to both sides the writeback kernel threads' CPU of their windows.
    """

    def kernel(r: dict[str, Any]) -> float:
        return float(r["kernel_writeback_cpu_s"]) if with_kernel else 0.0

    ours = [r["cpu_s"] + kernel(r) for r in results.get("nvr_backup", [])]
    theirs = [r[key] + kernel(r) for r in results.get(base, [])]
    return [a / b for a, b in zip(ours, theirs, strict=False) if b]


def row(
    cameras: int, results: dict[str, list[dict[str, Any]]], args: argparse.Namespace
) -> dict[str, Any]:
    """One line of backup.json."""
    cpu = {name: median_spread([r["cpu_s"] for r in rounds]) for name, rounds in results.items()}
    floor = [r["floor_cpu_s"] for r in results.get("ffmpeg", [])]
    vs_floor, floor_spread = median_spread(_paired(results, "floor_cpu_s", "ffmpeg"))
    pss = {
        name: median_spread([r["pss_mb"] for r in rounds])[0] for name, rounds in results.items()
    }
    rss = {
        name: median_spread([r["rss_mb"] for r in rounds])[0] for name, rounds in results.items()
    }
    ours_pss = pss.get("nvr_backup")

    def by_variant(key: str) -> dict[str, float | None]:
        """Median over the rounds of one figure of each variant's summaries."""
        return {
            name: median_spread([r[key] for r in rounds if r.get(key) is not None])[0]
            for name, rounds in results.items()
        }

    return {
        "cameras": cameras,
        "rounds": args.rounds,
        "ratio_vs_floor": vs_floor,
        # Absolute: max - min of the per-round ratios (0.02 = two points of the ratio).
        "ratio_spread": None
        if vs_floor is None or floor_spread is None
        else round(floor_spread * vs_floor, 3),
        # The same with the kernel's writeback threads counted on both sides: the floor's
        # writeback is done there, part of nvr-backup's in its own fsync.
        "ratio_vs_floor_with_writeback": median_spread(
            _paired(results, "floor_cpu_s", "ffmpeg", with_kernel=True)
        )[0],
        "ratio_vs_ffmpeg": median_spread(_paired(results, "cpu_s", "ffmpeg"))[0],
        "ratio_vs_mediamtx": median_spread(_paired(results, "cpu_s", "mediamtx"))[0],
        "pss_mb_per_camera": None if ours_pss is None else round(ours_pss / cameras, 2),
        "pss_mb_per_camera_by_variant": {
            name: None if value is None else round(value / cameras, 2)
            for name, value in pss.items()
        },
        "ffmpeg_pss_mb_per_process": by_variant("ffmpeg_pss_mb_per_process"),
        # Where nvr-backup's Python time goes (median over the rounds, by thread name), and
        # what SHA-256 of the bytes it wrote costs at this machine's speed, in memory.
        "python_cpu_s": by_variant("python_cpu_s").get("nvr_backup"),
        "python_thread_cpu_s": thread_medians(results.get("nvr_backup", [])),
        "sha256_of_written_s": median_spread(
            [r["written_bytes"] / 1e6 / args.sha256_mb_s for r in results.get("nvr_backup", [])]
        )[0],
        "ffmpeg_uss_mb_per_process": by_variant("ffmpeg_uss_mb_per_process"),
        # How busy the whole machine was (simulator and other load included): above ~90 %
        # the recorders wait for a CPU and the CPU ratios get noisy.
        "machine_busy_percent": by_variant("machine_busy_percent"),
        "kernel_writeback_cpu_s": by_variant("kernel_writeback_cpu_s"),
        "cpu_s_median": {name: value[0] for name, value in cpu.items()},
        "cpu_s_spread": {name: value[1] for name, value in cpu.items()},
        "floor_cpu_s_median": median_spread(floor)[0],
        "rss_mb_by_variant": rss,
        "pss_mb_by_variant": pss,
        "window_s": args.seconds,
        "warmup_s": args.warmup,
        "segment_seconds": args.segment_seconds,
        "resolution": f"{WIDTH}x{HEIGHT}",
        "bitrate_bps": BITRATE,
        "variants": results,
        "simulator_cpu_excluded": True,
        "nproc": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 1e9, 1),
        "sha256_mb_per_s": args.sha256_mb_s,
        "recording_ffmpeg": Path(recording_ffmpeg()).resolve().name,
        "python": platform.python_version(),
        "measured_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def thread_medians(rounds: list[dict[str, Any]]) -> dict[str, float | None]:
    """Median over the rounds of each thread name's CPU seconds (nvr-backup's summaries)."""
    names = sorted({name for r in rounds for name in r.get("thread_cpu_s", {})})
    return {
        name: median_spread([r["thread_cpu_s"].get(name, 0.0) for r in rounds])[0] for name in names
    }


def sha256_throughput(megabytes: int = 256) -> float:
    """This machine's SHA-256 speed in MB/s (what the indexer pays per recorded byte)."""
    block = os.urandom(MIB)
    digest = hashlib.sha256()
    begun = time.process_time()
    for _ in range(megabytes):
        digest.update(block)
    return round(megabytes * MIB / 1e6 / max(1e-9, time.process_time() - begun), 1)


# -- output ----------------------------------------------------------------------------------


def _fmt(value: Any) -> str:
    return "n/a" if value is None else str(value)


def markdown(rows: list[dict[str, Any]]) -> str:
    """The results as a Markdown table with a short explanation."""
    first = rows[0] if rows else {}
    lines = [
        "# nvr-backup CPU and memory benchmark",
        "",
        f"Simulated cameras at {first.get('resolution')} and"
        f" {first.get('bitrate_bps', 0) / 1e6:.0f} Mbit/s, segments of"
        f" {first.get('segment_seconds')} s, a {first.get('window_s')} s steady-state window"
        f" after {first.get('warmup_s')} s of warm-up, {first.get('rounds')} interleaved rounds"
        f" per variant, on {first.get('nproc')} CPUs. CPU is user+system seconds of each"
        " recorder's process tree in the window (nvr-backup: the Python process and its ffmpeg"
        " children), median over the rounds (spread = (max - min) / median); the camera"
        " simulator is excluded. The floor is bare ffmpeg with nvr-backup's argv plus SHA-256"
        f" of the bytes it wrote ({first.get('sha256_mb_per_s')} MB/s here). Both record"
        f" with {first.get('recording_ffmpeg')}."
        " Run: `.venv/bin/python tests/bench/bench_backup.py`.",
        "",
        "| cameras | nvr-backup CPU s | floor CPU s | bare ffmpeg CPU s | mediamtx CPU s"
        " | ratio_vs_floor | ratio_spread | ratio_vs_mediamtx | pss_mb_per_camera"
        " | one ffmpeg child PSS / USS MB | pss_mb_per_camera ffmpeg"
        " | pss_mb_per_camera mediamtx | machine busy % nvr-backup / ffmpeg / mediamtx"
        " | CPU spread nvr-backup / ffmpeg / mediamtx |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        cpu, spread = r["cpu_s_median"], r["cpu_s_spread"]
        per_camera = r["pss_mb_per_camera_by_variant"]
        busy = r["machine_busy_percent"]
        child = (
            f"{_fmt(r['ffmpeg_pss_mb_per_process'].get('nvr_backup'))}"
            f" / {_fmt(r['ffmpeg_uss_mb_per_process'].get('nvr_backup'))}"
        )
        cells = [
            r["cameras"],
            cpu.get("nvr_backup"),
            r["floor_cpu_s_median"],
            cpu.get("ffmpeg"),
            cpu.get("mediamtx"),
            r["ratio_vs_floor"],
            r["ratio_spread"],
            r["ratio_vs_mediamtx"],
            r["pss_mb_per_camera"],
            child,
            per_camera.get("ffmpeg"),
            per_camera.get("mediamtx"),
            " / ".join(_fmt(busy.get(n)) for n in VARIANTS),
            " / ".join(_fmt(spread.get(n)) for n in VARIANTS),
        ]
        lines.append("| " + " | ".join(_fmt(c) for c in cells) + " |")
    for r in rows:
        split = ", ".join(f"{name} {cpu}" for name, cpu in r["python_thread_cpu_s"].items())
        lines += [
            "",
            f"nvr-backup's Python process at {r['cameras']} cameras: {_fmt(r['python_cpu_s'])}"
            f" CPU s (median) by thread: {split or 'n/a'}; SHA-256 of the bytes it wrote,"
            f" at the in-memory speed above: {_fmt(r['sha256_of_written_s'])} s.",
            "",
            f"Kernel writeback threads (kworker, jbd2) during the windows at {r['cameras']}"
            " cameras, CPU s (median): "
            + ", ".join(f"{n} {_fmt(v)}" for n, v in r["kernel_writeback_cpu_s"].items())
            + f"; ratio_vs_floor with them counted on both sides:"
            f" {_fmt(r['ratio_vs_floor_with_writeback'])}.",
        ]
    lines += [
        "",
        f"Targets at 32 cameras: ratio_vs_floor <= {TARGET_VS_FLOOR}, ratio_vs_mediamtx <="
        f" {TARGET_VS_MEDIAMTX}, pss_mb_per_camera <= {TARGET_PSS_MB_PER_CAMERA}. PSS is the"
        " mean over the window of the tree's proportional set size (shared pages split"
        " between the processes sharing them), per camera; the child columns are the mean"
        " of one recording ffmpeg child alone (USS: the pages only it holds, what each"
        " further camera adds). Machine busy: the share of both CPUs in use during the"
        " windows, simulator and other load included; near 100 % the CPU ratios are noisy."
        " Why ffmpeg's memory does not move with its options, and what would move it:"
        " docs/design/recording.md, Numbers and Alternatives considered.",
        "",
    ]
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cameras", type=int, nargs="+", default=list(DEFAULT_CAMERAS))
    parser.add_argument(
        "--seconds", type=int, default=DEFAULT_SECONDS, help="steady-state window per recorder"
    )
    parser.add_argument("--warmup", type=int, default=DEFAULT_WARMUP)
    parser.add_argument(
        "--rounds", type=int, default=DEFAULT_ROUNDS, help="interleaved runs per variant (>= 3)"
    )
    parser.add_argument("--segment-seconds", type=int, default=DEFAULT_SEGMENT_SECONDS)
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    parser.add_argument(
        "--workdir", type=Path, default=None, help="scratch directory (default: a temp dir)"
    )
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1 (3 or more for a median and a spread)")
    if args.seconds % args.segment_seconds:
        log.warning("--seconds is not a multiple of the segment length: cuts per window vary")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run every camera count, then write backup.json and backup.md."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    args = parse_args(argv)
    args.sha256_mb_s = sha256_throughput()
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-backup-", dir=args.workdir) as tmp:
        for cameras in args.cameras:
            rows.append(run_count(cameras, Path(tmp), args))
    write_results("backup", rows, markdown(rows), args.results, shown=markdown(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
