"""Benchmark of the daily state-file backup at 1,000,000 segments (`make bench`).

    .venv/bin/python tests/bench/bench_statebackup.py [--segments N]

A state file with N segment rows (32 cameras, one minute each, hashes included) is copied
with nvr.core.statebackup.take_backup, the way nvr-hddmon does daily, while a second
process plays nvr-backup: it inserts a segment row through StateStore.write() every 5 ms.
Reported: the backup's duration and size, and the writer's commit latency before and
during the backup (the baseline is the same writer in the same run, before the backup).
Writes tests/bench/results/statebackup.json and statebackup.md.
"""

from __future__ import annotations

import argparse
import multiprocessing
import platform
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchlib import write_results

from nvr.core.state import StateStore
from nvr.core.statebackup import integrity_problem, take_backup

CAMERAS = 32
WRITE_EVERY_S = 0.005
BASELINE_S = 3.0


def fill(state_file: Path, segments: int) -> None:
    store = StateStore.open(state_file)
    start = 1_700_000_000_000
    batch = []
    for i in range(segments):
        camera = f"cam{i % CAMERAS:02d}"
        t = start + (i // CAMERAS) * 60_000
        batch.append(
            (camera, f"{camera}/{i}.mp4", t, t + 60_000, 4_000_000, "ab" * 32, "cd" * 32, t)
        )
        if len(batch) == 50_000:
            _insert(store, batch)
            batch = []
    if batch:
        _insert(store, batch)
    store.close()


def _insert(store: StateStore, rows: list[tuple[Any, ...]]) -> None:
    with store.write() as conn:
        conn.executemany(
            "INSERT INTO segments (camera, path, start_ms, end_ms, bytes, sha256, chain_sha256,"
            " created_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )


def writer(state_file: str, stop: Any, latencies: Any) -> None:
    """nvr-backup's share: one segment row every 5 ms, each commit timed."""
    store = StateStore.open(Path(state_file))
    i = 0
    while not stop.is_set():
        i += 1
        started = time.perf_counter()
        with store.write() as conn:
            conn.execute(
                "INSERT INTO segments (camera, path, start_ms, end_ms, bytes, created_at_ms)"
                " VALUES ('camw', ?, ?, ?, 1, 0)",
                (f"camw/{i}.mp4", i, i + 1),
            )
        latencies.append((time.time(), time.perf_counter() - started))
        time.sleep(WRITE_EVERY_S)
    store.close()


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 2 else max(values)


def run(segments: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        state_file = Path(tmp) / "state.db"
        filled = time.perf_counter()
        fill(state_file, segments)
        fill_s = time.perf_counter() - filled
        manager = multiprocessing.Manager()
        stop = manager.Event()
        latencies = manager.list()
        proc = multiprocessing.Process(target=writer, args=(str(state_file), stop, latencies))
        proc.start()
        time.sleep(BASELINE_S)
        backup_started = time.time()
        started = time.perf_counter()
        backup = take_backup(state_file, Path(tmp) / "backups", 7, datetime.now(UTC))
        backup_s = time.perf_counter() - started
        backup_ended = time.time()
        stop.set()
        proc.join(30)
        samples = list(latencies)
        before = [lat for at, lat in samples if at < backup_started]
        during = [lat for at, lat in samples if backup_started <= at <= backup_ended]
        assert integrity_problem(backup.path) is None
        return {
            "segments": segments,
            "state_file_mb": round(state_file.stat().st_size / 1e6, 1),
            "backup_mb": round(backup.path.stat().st_size / 1e6, 1),
            "fill_s": round(fill_s, 1),
            "backup_s": round(backup_s, 2),
            "writes_before": len(before),
            "writes_during": len(during),
            "write_p50_ms_before": round(statistics.median(before) * 1000, 2),
            "write_p99_ms_before": round(percentile(before, 99) * 1000, 2),
            "write_p50_ms_during": round(statistics.median(during) * 1000, 2) if during else None,
            "write_p99_ms_during": round(percentile(during, 99) * 1000, 2) if during else None,
            "write_max_ms_during": round(max(during) * 1000, 2) if during else None,
        }


def markdown(result: dict[str, Any]) -> str:
    rows = "\n".join(f"| {key} | {value} |" for key, value in result.items())
    return f"# State-file backup under a writer\n\n| measure | value |\n|---|---|\n{rows}\n"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--segments", type=int, default=1_000_000)
    args = parser.parse_args()
    result = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {multiprocessing.cpu_count()} CPUs",
        **run(args.segments),
    }
    write_results("statebackup", result, markdown(result))


if __name__ == "__main__":
    main()
