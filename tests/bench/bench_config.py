"""Benchmark of config parsing: PyYAML's C loader against the pure-Python one (`make bench`).

    .venv/bin/python tests/bench/bench_config.py

Parses the same YAML with yaml.CSafeLoader (what nvr.core.config uses when PyYAML has
libyaml) and yaml.SafeLoader (the fallback and the old behaviour): the example config with
64 cameras, a document of cameras at the size cap (MAX_CONFIG_BYTES), and 1 MiB. The ratio is
taken within the same run. Writes tests/bench/results/config.json and config.md.
"""

from __future__ import annotations

import platform
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from benchlib import write_results

from nvr.core.config.loader import MAX_CONFIG_BYTES

EXAMPLE = Path(__file__).resolve().parents[2] / "etc" / "nvr" / "nvr.yaml"
ROUNDS = 5


def example_with_cameras() -> str:
    data = yaml.safe_load(EXAMPLE.read_text())
    data["cameras"] = [
        {"id": f"cam{i:02d}", "name": f"Camera {i}", "url": f"rtsp://u:p@10.0.0.{i}/s1"}
        for i in range(64)
    ]
    return str(yaml.safe_dump(data))


def cameras_of_size(size: int) -> str:
    line = "  - {id: cam00, name: Camera, url: 'rtsp://user:password@10.0.0.1:554/stream1'}\n"
    return "cameras:\n" + line * ((size - 9) // len(line))


def best_of(text: str, loader: Any) -> float:
    times = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        yaml.load(text, Loader=loader)
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    documents = {
        "example + 64 cameras": example_with_cameras(),
        f"{MAX_CONFIG_BYTES >> 10} KiB (the cap)": cameras_of_size(MAX_CONFIG_BYTES),
        "1 MiB": cameras_of_size(1 << 20),
    }
    rows = []
    for name, text in documents.items():
        c_s = best_of(text, yaml.CSafeLoader)
        py_s = best_of(text, yaml.SafeLoader)
        rows.append(
            {
                "document": name,
                "bytes": len(text.encode()),
                "c_loader_ms": round(c_s * 1000, 2),
                "python_loader_ms": round(py_s * 1000, 2),
                "speedup": round(py_s / c_s, 1),
            }
        )
    result = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {platform.python_version()}",
        "rounds": ROUNDS,
        "rows": rows,
    }
    lines = [
        f"# Config parsing: C loader vs pure Python (best of {ROUNDS})",
        "",
        "| document | bytes | C loader ms | Python loader ms | speed-up |",
        "|---|---|---|---|---|",
        *(
            f"| {r['document']} | {r['bytes']} | {r['c_loader_ms']} | {r['python_loader_ms']}"
            f" | {r['speedup']}x |"
            for r in rows
        ),
        "",
    ]
    write_results("config", result, "\n".join(lines))


if __name__ == "__main__":
    main()
