"""Benchmark of nvr-health's /health under load (`make bench`).

    .venv/bin/python tests/bench/bench_health.py [--segments N] [--seconds S]

A state file with 32 cameras and N synthetic one-minute segments (default 1,000,000),
heartbeats of every daemon, a validation per camera and an uplink backlog; nvr-health runs
as a real subprocess on a loopback port, and wrk (Debian's) drives GET /health with 2
threads and 10 connections for S seconds. wrk has no constant-rate mode: it measures
the throughput at saturation and the latency percentiles at that load, which is harsher
than the 500 requests/s of the target.

Writes tests/bench/results/health.json and health.md.
"""

from __future__ import annotations

import argparse
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import yaml
from benchlib import machine, write_results

from nvr.core.service import Lifecycle, write_heartbeat
from nvr.core.state import StateStore, now_ms

CAMERAS = 32
DAEMONS = ("nvr-backup", "nvr-hddmon", "nvr-validator", "nvr-report", "nvr-uplink")
UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def free_port() -> int:
    """A loopback port nobody listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def fill(store: StateStore, segments: int, now: int) -> None:
    """Segments of 32 cameras ending now, heartbeats, validations, a small outbox."""
    per_camera = segments // CAMERAS
    cameras = [f"cam{i:02d}" for i in range(1, CAMERAS + 1)]
    with store.write() as conn:
        for camera in cameras:
            first = now - per_camera * 60_000
            conn.executemany(
                "INSERT INTO segments (camera, path, start_ms, end_ms, bytes, status,"
                " created_at_ms) VALUES (?, ?, ?, ?, 30000000, 'ok', ?)",
                (
                    (
                        camera,
                        f"{camera}/{k}.mp4",
                        first + k * 60_000,
                        first + (k + 1) * 60_000,
                        first + (k + 1) * 60_000,
                    )
                    for k in range(per_camera)
                ),
            )
            conn.execute(
                "INSERT INTO validations (camera, check_name, status, checked_at_ms)"
                " VALUES (?, 'black', 'ok', ?)",
                (camera, now),
            )
        for i in range(1, 101):
            conn.execute(
                "INSERT INTO outbox (report_id, site_id, seq, kind, priority, created_at_ms,"
                " bytes, envelope_json) VALUES (?, 'bench', ?, 'status', 1, ?, 2, '{}')",
                (f"r{i}", i, now - 60_000),
            )
    recorders = {c: {"state": "recording"} for c in cameras}
    details: dict[str, dict[str, Any]] = {
        "nvr-backup": {"cameras": recorders},
        "nvr-hddmon": {
            "percent": 60.0,
            "free_bytes": 4 * 10**12,
            "total_bytes": 10**13,
            "rate_bytes_per_s": 16_000_000.0,
            "smart": {},
        },
        "nvr-uplink": {"destinations": {"head_office": {"health": "ok", "backlog": 100}}},
    }
    for daemon in DAEMONS:
        write_heartbeat(
            store,
            daemon=daemon,
            state=Lifecycle.RUNNING,
            status="bench",
            detail=details.get(daemon, {}),
            started_at_ms=now,
        )


def config(tmp: Path, port: int) -> Path:
    """A config naming the 32 cameras; heartbeats stay fresh enough for the run."""
    data = {
        "site": {"id": "bench", "name": "Benchmark"},
        "storage": {"recordings_dir": str(tmp / "rec"), "state_file": str(tmp / "state.db")},
        "health": {"listen": f"127.0.0.1:{port}", "heartbeat_stale_factor": 100},
        "cameras": [
            {"id": f"cam{i:02d}", "url": f"rtsp://127.0.0.1:8554/cam{i:02d}"}
            for i in range(1, CAMERAS + 1)
        ],
    }
    (tmp / "rec").mkdir()
    path = tmp / "nvr.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def wait_listening(url: str) -> int:
    """Poll until the server answers; returns /health's status code."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                return int(answer.status)
        except urllib.error.HTTPError as err:
            return int(err.code)
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"nvr-health did not answer {url}")


def to_ms(value: str) -> float:
    """`1.23ms` / `850.00us` / `1.02s` in milliseconds."""
    match = re.fullmatch(r"([\d.]+)(us|ms|s)", value)
    if match is None:
        raise ValueError(value)
    return float(match.group(1)) * UNITS_MS[match.group(2)]


def parse_wrk(text: str) -> dict[str, Any]:
    """Percentiles, throughput and errors from `wrk --latency` output."""
    result: dict[str, Any] = {}
    for pct, value in re.findall(r"^\s+(50|75|90|99)%\s+(\S+)", text, re.M):
        result[f"p{pct}_ms"] = round(to_ms(value), 3)
    result["rps"] = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))  # type: ignore[union-attr]
    result["requests"] = int(re.search(r"(\d+) requests in", text).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    result["non_2xx"] = int(non2xx.group(1)) if non2xx else 0
    return result


def main() -> None:
    """Build the state, run nvr-health, load it with wrk, write the results."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--segments", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        began = time.monotonic()
        store = StateStore.open(tmp / "state.db")
        fill(store, args.segments, now_ms())
        setup = time.monotonic() - began
        port = free_port()
        proc = subprocess.Popen(
            [sys.executable, "-m", "nvr.health.main", "--config", str(config(tmp, port))],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            url = f"http://127.0.0.1:{port}/health"
            code = wait_listening(url)
            wrk = subprocess.run(
                ["wrk", "-t2", "-c10", f"-d{args.seconds}s", "--latency", url],
                capture_output=True,
                text=True,
                check=True,
            )
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
            store.close()
    result = {
        "segments": args.segments,
        "cameras": CAMERAS,
        "health_status_code": code,
        **parse_wrk(wrk.stdout),
        "wrk": "-t2 -c10 --latency",
        "seconds": args.seconds,
        "setup_seconds": round(setup, 1),
        "target_p99_ms": 20,
        "sqlite": sqlite3.sqlite_version,
        **machine(),
    }
    write_results("health", result, markdown(result, wrk.stdout))


def markdown(result: dict[str, Any], raw: str) -> str:
    """The human-readable result."""
    verdict = "meets" if result["p99_ms"] < result["target_p99_ms"] else "MISSES"
    return (
        "# nvr-health /health under load\n\n"
        f"State file: {result['cameras']} cameras, {result['segments']:,} segments. "
        f"wrk {result['wrk']} for {result['seconds']} s against GET /health "
        f"(closed loop, saturating; not a fixed 500 req/s) on {result['cpus']} CPUs.\n\n"
        "| rps | p50 ms | p75 ms | p90 ms | p99 ms | non-2xx |\n|---|---|---|---|---|---|\n"
        f"| {result['rps']:.0f} | {result['p50_ms']} | {result['p75_ms']} | {result['p90_ms']}"
        f" | {result['p99_ms']} | {result['non_2xx']} |\n\n"
        f"Target p99 < 20 ms: {verdict}. Measured {result['measured_at']}.\n\n"
        f"```\n{raw.strip()}\n```\n"
    )


if __name__ == "__main__":
    main()
