"""Benchmark of nvr-validator: one full round of 32 simulated cameras (`make bench`).

    .venv/bin/python tests/bench/bench_validator.py [--cameras N] [--workers W]

Every camera gets the whole check (RTSP probe, ffprobe, 4 s of keyframes decoded at
640x360 scaled to 320 px, picture checks, rows, snapshot). CPU is this process plus its
ffprobe/ffmpeg children; mediamtx and the simulated cameras' publishers are not counted.
Writes tests/bench/results/validator.json and validator.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from nvr.camsim import CameraSimulator
from nvr.core.config import parse_config
from nvr.core.state import StateStore
from nvr.validator.engine import Engine, default_tools, settings_of
from nvr.validator.media import children_cpu_seconds
from nvr.validator.results import Status

RESULTS = Path(__file__).with_name("results")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cameras", type=int, default=32)
    parser.add_argument("--workers", type=int, default=12)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "state").mkdir()
        with CameraSimulator(root / "camsim", args.cameras, width=640, height=360) as sim:
            config = parse_config(
                {
                    "site": {"id": "bench"},
                    "storage": {"recordings_dir": tmp, "state_file": str(root / "state/s.db")},
                    "validation": {"workers": args.workers},
                    "cameras": [{"id": c, "url": sim.camera_url(c)} for c in sim.camera_ids],
                },
                root / "nvr.yaml",
            )
            with StateStore.open(config.storage.state_file) as store:
                engine = Engine(store, config.storage.state_file, default_tools())
                settings = settings_of(config)
                cpu0, child0, wall0 = time.process_time(), children_cpu_seconds(), time.monotonic()
                with ThreadPoolExecutor(args.workers) as pool:
                    outcomes = list(pool.map(lambda c: engine.check(c, settings), config.cameras))
                for outcome in outcomes:
                    engine.record(outcome)
                wall = time.monotonic() - wall0
                cpu = time.process_time() - cpu0 + children_cpu_seconds() - child0
    ok = sum(o.report.status is Status.OK for o in outcomes)
    result = {
        "cameras": args.cameras,
        "workers": args.workers,
        "ok": ok,
        "round_seconds": round(wall, 2),
        "cpu_seconds_per_check": round(cpu / args.cameras, 3),
        "average_cores": round(cpu / wall, 2),
        "sample_seconds": settings.sample_seconds,
        "keyframes_only": settings.keyframes_only,
        "machine": f"{platform.machine()}, {os.cpu_count()} cpus",
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "validator.json").write_text(json.dumps(result, indent=2) + "\n")
    md = [
        "# nvr-validator: one round of simulated cameras",
        "",
        "| cameras | workers | ok | round (s) | CPU s per check | average cores |",
        "|---|---|---|---|---|---|",
        f"| {args.cameras} | {args.workers} | {ok} | {result['round_seconds']} |"
        f" {result['cpu_seconds_per_check']} | {result['average_cores']} |",
        "",
        "Target: a round of 32 cameras < 30 s using less than one core on average.",
        f"Machine: {result['machine']}. 640x360 H.264 at 25 fps, GOP 1 s, keyframes decoded.",
    ]
    (RESULTS / "validator.md").write_text("\n".join(md) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
