"""What the benchmarks of tests/bench share: where results go and the machine they ran on.

The benchmarks run as scripts (`.venv/bin/python tests/bench/bench_<name>.py`), so this
directory is on sys.path and `import benchlib` finds this module.
"""

from __future__ import annotations

import json
import os
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nvr_camsim import CameraSimulator

RESULTS = Path(__file__).with_name("results")


def machine() -> dict[str, Any]:
    """The closing fields of a result: Python, CPUs and when (UTC, to the second)."""
    return {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "measured_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def nvr_config(root: Path, sim: CameraSimulator, segment_seconds: int, site: str) -> dict[str, Any]:
    """The nvr.yaml of a bench run under `root`, every camera of `sim` (every other setting
    at its default)."""
    return {
        "site": {"id": site},
        "storage": {
            "recordings_dir": str(root / "recordings"),
            "state_file": str(root / "state" / "state.db"),
        },
        "recording": {"segment_seconds": segment_seconds},
        "cameras": [{"id": cid, "url": sim.camera_url(cid)} for cid in sim.camera_ids],
    }


def write_results(
    name: str, result: Any, markdown: str, results: Path = RESULTS, shown: str | None = None
) -> None:
    """<results>/<name>.json and <name>.md; on stdout `shown`, by default the JSON."""
    results.mkdir(parents=True, exist_ok=True)
    (results / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    (results / f"{name}.md").write_text(markdown)
    print(json.dumps(result, indent=2) if shown is None else shown)
