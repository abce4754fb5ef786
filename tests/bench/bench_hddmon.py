"""Benchmark of nvr-hddmon's janitor at 1,000,000 segments (`make bench`).

    .venv/bin/python tests/bench/bench_hddmon.py [--segments N]

An index of N synthetic segments (32 cameras, one minute each) on the real disk; the
oldest 10 % also get real (empty) files, which is more than the janitor deletes. The
recordings filesystem is virtual: 95 % used, where used drops by what the janitor frees,
so the daemon's own space check runs unchanged from 95 % down to 90 %. Meanwhile a second
process plays nvr-backup: it inserts a segment row through StateStore.write() every 5 ms
and counts "database is locked" errors and busy retries.

Writes tests/bench/results/hddmon.json and hddmon.md.
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchlib import machine, write_results

from nvr.core.config import parse_config
from nvr.core.errors import StateError
from nvr.core.state import StateStore
from nvr.hddmon.daemon import HddmonDaemon
from nvr.hddmon.usage import DiskUsage

CAMERAS = 32
SEGMENT_MS = 60_000
SEGMENT_BYTES = 30_000_000  # one minute at 4 Mbit/s
FILE_SHARE = 0.10
START_PERCENT = 95.0
TARGET_PERCENT = 90.0
WRITER_INTERVAL_S = 0.005
T0_MS = 1_790_000_000_000  # 2026-09-21, so the newest segment ends before CLOCK_MS
CLOCK_MS = 1_795_300_000_000


def segment_path(camera: str, start_ms: int) -> str:
    start = datetime.fromtimestamp(start_ms / 1000, UTC)
    return f"{camera}/{start:%Y-%m-%d}/{start:%H-%M-%S}.mp4"


def build_index(store: StateStore, count: int) -> list[tuple[str, str, int]]:
    """Insert `count` rows, cameras interleaved in time; return the oldest FILE_SHARE."""
    rows = []
    for i in range(count):
        camera = f"cam{i % CAMERAS:02d}"
        start = T0_MS + (i // CAMERAS) * SEGMENT_MS
        path = segment_path(camera, start)
        rows.append(
            (camera, path, start, start + SEGMENT_MS, SEGMENT_BYTES, f"{i:064x}", None, "ok", start)
        )
    with store.write() as conn:
        conn.executemany(
            "INSERT INTO segments (camera, path, start_ms, end_ms, bytes, sha256, chain_sha256,"
            " status, created_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
    store.read().execute("ANALYZE")
    return [(r[0], r[1], r[2]) for r in rows[: int(count * FILE_SHARE)]]


def make_files(root: Path, rows: list[tuple[str, str, int]]) -> None:
    folders = {(root / path).parent for _, path, _ in rows}
    for folder in folders:
        folder.mkdir(parents=True, exist_ok=True)
    for _, path, _ in rows:
        (root / path).touch()


def writer(state_file: str, stop: Any, out: Any) -> None:
    """nvr-backup's pattern: one short write transaction per segment, every few ms."""
    busy_retries = []

    class Count(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            busy_retries.append(record.getMessage())

    logging.getLogger("nvr.core.state").addHandler(Count())
    store = StateStore.open(state_file)
    latencies: list[float] = []
    locked = 0
    i = 0
    while not stop.is_set():
        start = CLOCK_MS - 30_000 + i
        begun = time.perf_counter()
        try:
            with store.write() as conn:
                conn.execute(
                    "INSERT INTO segments (camera, path, start_ms, end_ms, bytes, status,"
                    " created_at_ms) VALUES ('camw', ?, ?, ?, 1000, 'ok', ?)",
                    (f"camw/bench/{i}.mp4", start, start + 1, start),
                )
        except (StateError, sqlite3.OperationalError) as err:
            if "locked" in str(err) or "busy" in str(err):
                locked += 1
        latencies.append((time.perf_counter() - begun) * 1000)
        i += 1
        time.sleep(WRITER_INTERVAL_S)  # a separate process: no stop event to share a wait on
    out.put(
        {"rows": i, "locked": locked, "busy_retries": len(busy_retries), "latencies_ms": latencies}
    )


def config_for(root: Path, state_file: Path) -> Any:
    return parse_config(
        {
            "site": {"id": "bench"},
            "storage": {"recordings_dir": str(root), "state_file": str(state_file)},
            "disk": {
                "high_watermark_percent": TARGET_PERCENT + 1,
                "low_watermark_percent": TARGET_PERCENT,
                "headroom_hours": 0,
                "retention_days": 3650,
                "state_min_free_mb": 0,
            },
        },
        Path("bench.yaml"),
    )


def run(count: int, workdir: Path) -> dict[str, Any]:
    root = workdir / "recordings"
    root.mkdir()
    state_file = workdir / "state.db"
    store = StateStore.open(state_file)
    started = time.perf_counter()
    oldest = build_index(store, count)
    make_files(root, oldest)
    setup_seconds = time.perf_counter() - started
    total_bytes = count * SEGMENT_BYTES
    usable = int(total_bytes / (START_PERCENT / 100))
    daemon: HddmonDaemon

    def virtual_usage(path: Path) -> DiskUsage:
        used = total_bytes - daemon.janitor.freed_bytes
        return DiskUsage(total=usable, used=used, free=usable - used)

    daemon = HddmonDaemon(
        config_for(root, state_file),
        store,
        threading.Event(),
        clock_ms=lambda: CLOCK_MS,
        usage_fn=virtual_usage,
    )
    stop = multiprocessing.Event()
    out: Any = multiprocessing.Queue()
    proc = multiprocessing.Process(target=writer, args=(str(state_file), stop, out))
    proc.start()
    time.sleep(1.0)  # the writer is in its stride before the janitor starts
    wall_start = time.perf_counter()
    ticks = 0
    while True:
        daemon._check_space()
        ticks += 1
        if not daemon.busy:
            break
    wall = time.perf_counter() - wall_start
    time.sleep(0.5)
    stop.set()
    writer_result = out.get(timeout=60)
    proc.join(timeout=30)
    usage = virtual_usage(root)
    latencies = writer_result.pop("latencies_ms")
    deleted = (
        store.read()
        .execute("SELECT ? - COUNT(*) FROM segments WHERE camera != 'camw'", (count,))
        .fetchone()[0]
    )
    return {
        "segments": count,
        "deleted_segments": deleted,
        "deleted_bytes": daemon.janitor.freed_bytes,
        "start_percent": START_PERCENT,
        "end_percent": round(usage.percent, 3),
        "db_seconds": round(daemon.janitor.db_seconds, 3),
        "wall_seconds": round(wall, 3),
        "ticks": ticks,
        "setup_seconds": round(setup_seconds, 1),
        "writer_rows": writer_result["rows"],
        "writer_locked_errors": writer_result["locked"],
        "writer_busy_retries": writer_result["busy_retries"],
        "writer_latency_ms_p50": round(statistics.median(latencies), 2),
        "writer_latency_ms_p99": round(statistics.quantiles(latencies, n=100)[98], 2),
        "writer_latency_ms_max": round(max(latencies), 2),
        "sqlite": sqlite3.sqlite_version,
        **machine(),
    }


def markdown(result: dict[str, Any]) -> str:
    lines = [
        "# nvr-hddmon janitor benchmark",
        "",
        f"Index of {result['segments']:,} segments; usage brought from {result['start_percent']} % "
        f"to {result['end_percent']} % while a writer process inserted a row every "
        f"{WRITER_INTERVAL_S * 1000:g} ms. Run: `.venv/bin/python tests/bench/bench_hddmon.py`.",
        "",
        "| metric | value |",
        "|---|---|",
    ]
    lines += [f"| {key} | {value} |" for key, value in result.items()]
    lines += ["", "Target: db_seconds < 2 at 1,000,000 segments; writer_locked_errors = 0.", ""]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--segments", type=int, default=1_000_000)
    parser.add_argument("--workdir", help="where the index and files go (default: a temp dir)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.workdir) as workdir:
        # The janitor logs a line per deletion; to a file, so that cost is in wall_seconds.
        logging.basicConfig(level=logging.INFO, filename=str(Path(workdir) / "janitor.log"))
        result = run(args.segments, Path(workdir))
    write_results("hddmon", result, markdown(result))
    ok = result["db_seconds"] < 2 and result["writer_locked_errors"] == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
