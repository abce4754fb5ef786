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
from typing import Any

RESULTS = Path(__file__).with_name("results")


def machine() -> dict[str, Any]:
    """The closing fields of a result: Python, CPUs and when (UTC, to the second)."""
    return {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "measured_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def write_results(name: str, result: dict[str, Any], markdown: str) -> None:
    """results/<name>.json and results/<name>.md, and the result on stdout."""
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    (RESULTS / f"{name}.md").write_text(markdown)
    print(json.dumps(result, indent=2))
