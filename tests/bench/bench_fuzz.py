"""Fuzzing every HTTP API we serve, at length (`make bench`; issue 18).

    .venv/bin/python tests/bench/bench_fuzz.py [--examples N]

The same servers and OpenAPI descriptions as tests/fuzz/test_http_fuzz.py (nvr-health,
the viewer API, mediamtx's auth callback, nvr-headoffice, nvr-hse, each a real process on
loopback), with N positive and N negative examples per operation and per kind of caller
(default 100; `make test` sends 8). Counts what a user would notice: 5xx answers (but the
documented 503 of /health and /ready) and tracebacks in the servers' logs.

Writes tests/bench/results/fuzz.json (`examples`, `server_errors`, `tracebacks`, per API
and in total) and fuzz.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: fuzz, health, ...

from fuzz import servers
from fuzz.hammer import Tally, fuzz
from fuzz.servers import Target

RESULTS = Path(__file__).with_name("results")


def _targets(root: Path) -> Iterator[tuple[str, Callable[[], AbstractContextManager[Any]]]]:
    yield "nvr-health", lambda: servers.health(root / "health")
    yield "nvr-livestream", lambda: servers.livestream(root / "livestream")
    yield "nvr-headoffice", lambda: servers.headoffice(root / "headoffice")
    yield "nvr-hse", lambda: servers.hse(root / "hse")


def _run(target: Target, examples: int) -> dict[str, Any]:
    tally = Tally()
    started = time.monotonic()
    for _, decorate in target.runs:
        tally.add(fuzz(target.spec, target.base_url, examples, decorate, target.verdicts))
    return {
        "spec": f"docs/api/{target.spec}",
        "examples": tally.examples,
        "server_errors": len(tally.server_errors),
        "server_error_samples": tally.server_errors[:10],
        "statuses": {str(k): v for k, v in sorted(tally.statuses.items())},
        "seconds": round(time.monotonic() - started, 1),
    }


def main() -> int:
    """Fuzz each server, write the results, exit 1 when anything was found."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--examples", type=int, default=100)
    args = parser.parse_args()
    apis: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="nvr-fuzz-") as tmp:
        root = Path(tmp)
        for name, start in _targets(root):
            (root / name.removeprefix("nvr-")).mkdir()
            with start() as started:
                targets = started if isinstance(started, tuple) else (started,)
                for target in targets:
                    apis[target.spec.removesuffix(".yaml")] = _run(target, args.examples)
                # One process per server, whatever the number of specs it answers.
                apis[targets[0].spec.removesuffix(".yaml")]["tracebacks"] = targets[0].tracebacks()
    totals = {
        key: sum(api.get(key, 0) for api in apis.values())
        for key in ("examples", "server_errors", "tracebacks")
    }
    result = {
        "benchmark": "fuzz",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "examples_per_operation_and_mode": args.examples,
        **totals,
        "apis": apis,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "fuzz.json").write_text(json.dumps(result, indent=2) + "\n")
    (RESULTS / "fuzz.md").write_text(_markdown(result))
    print(json.dumps(totals))
    return 0 if totals["server_errors"] == 0 and totals["tracebacks"] == 0 else 1


def _markdown(result: dict[str, Any]) -> str:
    lines = [
        "# Fuzzing the HTTP APIs (schemathesis, real servers on loopback)",
        "",
        f"{result['measured_at']}, {result['machine']['cpus']} CPUs, "
        f"{result['examples_per_operation_and_mode']} positive and negative examples per"
        " operation and kind of caller.",
        "",
        "| API | examples | 5xx | tracebacks | answers | seconds |",
        "|---|---|---|---|---|---|",
    ]
    for name, api in result["apis"].items():
        statuses = ", ".join(f"{k}: {v}" for k, v in api["statuses"].items())
        lines.append(
            f"| {name} | {api['examples']} | {api['server_errors']} |"
            f" {api.get('tracebacks', '(same process)')} | {statuses} | {api['seconds']} |"
        )
    lines += [
        "",
        f"Total: {result['examples']} examples, {result['server_errors']} server errors,"
        f" {result['tracebacks']} tracebacks.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
