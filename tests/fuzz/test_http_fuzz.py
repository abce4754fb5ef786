"""Every HTTP API we serve, fuzzed by schemathesis from its OpenAPI description (issue 18).

Real servers on loopback (tests/fuzz/servers.py); a few positive and negative examples per
operation and per kind of caller (anonymous, logged in, signed), so `make test` stays
quick; `make bench` sends many more (tests/bench/bench_fuzz.py). Zero 5xx answers (but the
documented 503 of /health and /ready) and zero tracebacks in the servers' logs.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from fuzz import servers
from fuzz.hammer import Tally, fuzz
from fuzz.servers import Target

pytestmark = pytest.mark.timeout(300)

EXAMPLES = 8  # per operation, per generation mode, per kind of caller


def hammer(target: Target) -> Tally:
    tally = Tally()
    for _, decorate in target.runs:
        tally.add(fuzz(target.spec, target.base_url, EXAMPLES, decorate, target.verdicts))
    return tally


def check(target: Target, tally: Tally) -> None:
    assert tally.examples >= EXAMPLES, tally
    assert tally.server_errors == [], tally.server_errors
    assert target.tracebacks() == 0, target.process.log()[-3000:]


def test_nvr_health_answers_every_fuzzed_request_without_a_server_error(tmp_path: Path) -> None:
    with servers.health(tmp_path) as target:
        check(target, hammer(target))


def test_the_viewer_api_and_auth_callback_survive_fuzzing(tmp_path: Path) -> None:
    with servers.livestream(tmp_path) as (viewer_api, callback):
        for target in (viewer_api, callback):
            check(target, hammer(target))


def test_nvr_headoffice_survives_fuzzing_signed_and_unsigned(tmp_path: Path) -> None:
    with servers.headoffice(tmp_path) as target:
        tally = hammer(target)
        check(target, tally)
        assert tally.statuses.get(401, 0) > 0  # the unsigned ones were refused
