"""Every HTTP API we serve, fuzzed by schemathesis from its OpenAPI description (issue 18).

Real servers on loopback (tests/fuzz/servers.py); a few positive and negative examples per
operation and per kind of caller (anonymous, logged in, signed), so `make test` stays
quick; `make bench` sends many more (tests/bench/bench_fuzz.py). Zero 5xx answers (but the
documented 503 of /health and /ready) and zero tracebacks in the servers' logs.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from fuzz import servers
from fuzz.hammer import Tally, fuzz
from fuzz.servers import Target
from nvr.core.redact import Secret
from nvr.core.signing import report_signature
from nvrtest.headoffice import SECRET, SITE

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


def status_of(base_url: str, request: bytes) -> int:
    """Send `request` as raw bytes (what requests would refuse to send); the answer's status."""
    host, port = base_url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=20) as conn:
        conn.sendall(request)
        with conn.makefile("rb") as answer:
            head = answer.readline()
    return int(head.split()[1])


def http(method: str, path: str, body: bytes = b"", **headers: str) -> bytes:
    headers.setdefault("Connection", "close")
    lines = [f"{method} {path} HTTP/1.1", "Host: box"]
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    if body:
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


# Twice Python's recursion limit: json.loads raises RecursionError, not ValueError.
DEEP = b"[" * 2000 + b"]" * 2000


def signed_post(path: str, body: bytes) -> bytes:
    stamp = str(int(time.time()))
    signature = report_signature(Secret(SECRET), stamp, body)
    return http(
        "POST", path, body, X_NVR_Site=SITE, X_NVR_Timestamp=stamp, X_NVR_Signature=signature
    )


def test_nvr_headoffice_survives_fuzzing_signed_and_unsigned(tmp_path: Path) -> None:
    with servers.headoffice(tmp_path) as target:
        tally = hammer(target)
        # Found by hand after the fuzzing: a signed body nested too deeply was a 500.
        for path in ("/api/nvr/reports", "/api/nvr/heartbeat"):
            assert status_of(target.base_url, signed_post(path, DEEP)) == 400, path
        check(target, tally)
        assert tally.statuses.get(401, 0) > 0  # the unsigned ones were refused


def test_nvr_hse_survives_fuzzing_with_each_token_and_none(tmp_path: Path) -> None:
    with servers.hse(tmp_path) as target:
        tally = hammer(target)
        # What the fuzzing did not reach and a probe by hand did (each was a 500 with a
        # traceback): a non-UTF-8 token, an id beyond SQLite's integers, nesting deeper than
        # json.loads recurses, a time before year 1 once in UTC; NaN is no JSON number.
        bearer = f"Bearer {servers.HSE_TOKEN}"
        huge = "9" * 30
        hostile = [
            (http("GET", "/api/health").replace(b"Host", b"Authorization: Bearer \xff\r\nHost"),
             401),
            (http("GET", f"/api/alarms?since={huge}", Authorization=bearer), 400),
            (http("GET", f"/alarm/?since={huge}", Authorization=bearer, Upgrade="websocket",
                  Sec_WebSocket_Key="dGhlIHNhbXBsZSBub25jZQ==", Sec_WebSocket_Version="13",
                  Connection="Upgrade"), 400),
            (http("POST", "/api/events", DEEP, Authorization=bearer), 400),
            (http("POST", "/api/events", b'{"camera": "cam01", "type": "Fire",'
                  b' "time": "0001-01-01T00:00:00+23:59"}', Authorization=bearer), 400),
            (http("POST", "/api/events", b'{"camera": "cam01", "type": "Fire",'
                  b' "details": {"t": NaN}}', Authorization=bearer), 400),
        ]  # fmt: skip
        answers = [status_of(target.base_url, request) for request, _ in hostile]
        assert answers == [status for _, status in hostile]
        check(target, tally)
        assert tally.statuses.get(401, 0) > 0  # the anonymous ones were refused
        assert tally.statuses.get(201, 0) > 0  # and valid posted events accepted
