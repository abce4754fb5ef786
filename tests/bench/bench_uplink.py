"""Benchmark of nvr-uplink: drain 100,000 queued reports into a local head office.

    .venv/bin/python tests/bench/bench_uplink.py [--reports N] [--batch N]

The reports are queued first (a week-long WAN outage), then a real nvr-uplink process
starts and delivers them to the fake head office of the tests (a ThreadingHTTPServer on
127.0.0.1 that checks every HMAC signature and dedupes by report id). The clock runs from
the process start until the receiver holds every report. RSS is the uplink process's peak.

Writes tests/bench/results/uplink.json and uplink.md. Target: >= 2,000 reports/s, 0 lost,
0 duplicates.
"""

from __future__ import annotations

import argparse
import platform
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
import yaml

from nvr.core.state import StateStore
from nvr.core.tables.outbox import append

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchlib import write_results

from uplink.receiver import Receiver

SITE = "bench-01"
SECRET = "bench-secret-0a1b2c3d"
TARGET_PER_SECOND = 2_000


def queue_reports(state_file: Path, count: int) -> float:
    """Append `count` event reports of a realistic size; return the seconds it took."""
    started = time.monotonic()
    with StateStore.open(state_file) as store:
        for first in range(0, count, 5_000):
            with store.write() as conn:
                for i in range(first, min(count, first + 5_000)):
                    body = {
                        "event": "camera_offline" if i % 2 else "camera_recovered",
                        "severity": "warning",
                        "camera": f"cam{i % 32:02d}",
                        "message": f"cam{i % 32:02d}: no new segment for 130 s: camera stalled",
                        "count": 1,
                        "data": {"source": "nvr-backup", "n": i},
                    }
                    append(conn, SITE, "event", body)
    return time.monotonic() - started


def write_config(root: Path, url: str, batch: int) -> Path:
    (root / "ho.key").write_text(SECRET)
    (root / "recordings").mkdir()
    config = {
        "site": {"id": SITE},
        "storage": {
            "recordings_dir": str(root / "recordings"),
            "state_file": str(root / "state.db"),
        },
        "uplink": {
            "head_office": {"url": url, "secret_file": str(root / "ho.key")},
            "batch_max_reports": batch,
        },
    }
    path = root / "nvr.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def drain(config: Path, receiver: Receiver, count: int, log: Path) -> tuple[float, float]:
    """Run nvr-uplink until the receiver holds `count` reports; return (seconds, peak RSS MB)."""
    with log.open("wb") as handle:
        started = time.monotonic()
        proc = subprocess.Popen(
            [sys.executable, "-m", "nvr.uplink.main", "--config", str(config)],
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
        peak = 0.0
        try:
            watched = psutil.Process(proc.pid)
            while receiver.count() < count:
                if proc.poll() is not None:
                    raise SystemExit(f"nvr-uplink exited with {proc.returncode}; see {log}")
                peak = max(peak, watched.memory_info().rss / 2**20)
                time.sleep(0.05)
            elapsed = time.monotonic() - started
        finally:
            proc.terminate()
            proc.wait(30)
    return elapsed, peak


def main() -> int:
    """Queue, drain, write the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-uplink-") as tmp:
        root = Path(tmp)
        queue_seconds = queue_reports(root / "state.db", args.reports)
        receiver = Receiver(secret=SECRET)
        config = write_config(root, receiver.url, args.batch)
        seconds, rss = drain(config, receiver, args.reports, root / "uplink.log")
        time.sleep(0.5)  # let a last duplicate, if any, arrive before counting
        seqs = receiver.seqs()
        result: dict[str, Any] = {
            "reports": args.reports,
            "batch_max_reports": args.batch,
            "drain_seconds": round(seconds, 2),
            "reports_per_second": round(args.reports / seconds),
            "rss_mb": round(rss, 1),
            "lost": args.reports - len(seqs),
            "duplicates": receiver.duplicates(),
            "in_order": receiver.order == sorted(receiver.order),
            "seq_gapless": seqs == list(range(1, args.reports + 1)),
            "signature_problems": len(receiver.problems),
            "requests": len(receiver.requests),
            "queue_seconds": round(queue_seconds, 2),
            "target_reports_per_second": TARGET_PER_SECOND,
            "sqlite": sqlite3.sqlite_version,
            "python": platform.python_version(),
            "cpus": psutil.cpu_count(),
            "measured_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        receiver.close()
    write_results("uplink", result, markdown(result))
    ok = (
        result["reports_per_second"] >= TARGET_PER_SECOND
        and result["lost"] == 0
        and result["duplicates"] == 0
    )
    return 0 if ok else 1


def markdown(r: dict[str, Any]) -> str:
    """The human-readable result."""
    verdict = "meets" if r["reports_per_second"] >= TARGET_PER_SECOND else "misses"
    return (
        "# nvr-uplink drain benchmark\n\n"
        f"Measured {r['measured_at']} on {r['cpus']} CPUs (Python {r['python']}, SQLite "
        f"{r['sqlite']}) by `tests/bench/bench_uplink.py`.\n\n"
        f"{r['reports']:,} queued event reports drained by a real nvr-uplink process into the "
        "test head office on 127.0.0.1 (HMAC checked on every request, dedupe by report id), "
        f"batches of up to {r['batch_max_reports']}.\n\n"
        "| measure | value |\n|---|---|\n"
        f"| drain time | {r['drain_seconds']} s (process start to last report received) |\n"
        f"| reports/s | {r['reports_per_second']:,} (target {TARGET_PER_SECOND:,}: {verdict}) |\n"
        f"| peak RSS of nvr-uplink | {r['rss_mb']} MB |\n"
        f"| lost | {r['lost']} |\n| duplicates | {r['duplicates']} |\n"
        f"| in seq order, gapless | {r['in_order']}, {r['seq_gapless']} |\n"
        f"| HTTP requests | {r['requests']} |\n"
        f"| time to queue them (setup) | {r['queue_seconds']} s |\n"
    )


if __name__ == "__main__":
    sys.exit(main())
