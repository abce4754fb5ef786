"""Schemathesis against a real server: every operation of an OpenAPI description, bounded.

Used by tests/fuzz/test_http_fuzz.py (a few examples per operation, in `make test`) and by
tests/bench/bench_fuzz.py (many more, counts into tests/bench/results/fuzz.json). Both
positive examples (valid per the description) and negative ones (violating it) are sent;
`Tally` counts what a user would notice: 5xx answers and tracebacks in the server's log.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as fixed_seed
from hypothesis.errors import Unsatisfiable
from schemathesis import Case, GenerationMode

SPECS = Path(__file__).resolve().parents[2] / "docs" / "api"
CALL_TIMEOUT_S = 20
# Changes a call's request kwargs in place (credentials, a signature over the body).
Decorate = Callable[[dict[str, Any]], None]


@dataclass
class Tally:
    """What one fuzzing run found."""

    examples: int = 0
    server_errors: list[str] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)

    def add(self, other: Tally) -> None:
        self.examples += other.examples
        self.server_errors += other.server_errors
        for status, count in other.statuses.items():
            self.statuses[status] = self.statuses.get(status, 0) + count


def _send(
    case: Case, base_url: str, decorate: Decorate | None, verdicts: frozenset[str], tally: Tally
) -> None:
    kwargs = case.as_transport_kwargs(base_url=base_url)
    kwargs["timeout"] = CALL_TIMEOUT_S
    kwargs["verify"] = False  # self-signed test certificates; TLS is tested elsewhere
    if decorate is not None:
        decorate(kwargs)
    try:
        answer = requests.request(**kwargs)
    except requests.exceptions.InvalidHeader:
        return  # requests itself refuses to send it: nothing reached the server
    tally.examples += 1
    tally.statuses[answer.status_code] = tally.statuses.get(answer.status_code, 0) + 1
    # 503 is a documented answer on some paths (/health's "unhealthy"); elsewhere a bug.
    verdict = answer.status_code == 503 and case.formatted_path in verdicts
    if answer.status_code >= 500 and not verdict:
        tally.server_errors.append(f"{case.method} {case.formatted_path}: {answer.status_code}")


def fuzz(
    spec: str,
    base_url: str,
    examples: int,
    decorate: Decorate | None = None,
    verdicts: frozenset[str] = frozenset(),
    seed: int = 18,
) -> Tally:
    """Send up to `examples` positive and `examples` negative cases to each operation."""
    schema = schemathesis.openapi.from_path(SPECS / spec)
    tally = Tally()
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @fixed_seed(seed)
            @settings(
                max_examples=examples,
                deadline=None,
                database=None,
                phases=[Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            @given(case=operation.as_strategy(generation_mode=mode))
            def run(case: Case) -> None:
                _send(case, base_url, decorate, verdicts, tally)

            # An operation without parameters has no negative case: nothing to break.
            with contextlib.suppress(Unsatisfiable):
                run()
    return tally
