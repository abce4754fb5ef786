"""The NOC split and TLS on nvr-health, run for real (issue 18: TLS, NOC, health.listen).

The certificate is the one `nvrctl tls self-signed` makes at install; clients verify it
against itself (pinned), as a NOC would with a self-signed box.
"""

from __future__ import annotations

import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from nvr.core.httpserve import MAX_HEADER_BYTES
from nvr.core.logins import CLIENT_FAILURES, WINDOW_SECONDS
from nvr.health.constants import MAX_REQUEST_BODY_BYTES
from nvrtest import Child, refused_start, self_signed, wait_until
from nvrtest.box import GUARD, GUARD_PW, TECH, TECH_PW, Box, free_port, make_box

pytestmark = pytest.mark.timeout(90)

TOKEN = "noc-token-51d2e0a9c4"


class Health(Child):
    def __init__(self, box: Box) -> None:
        super().__init__(box.tmp, "health")
        self.spawn([sys.executable, "-m", "nvr.health.main", "--config", str(box.config_path)])
        wait_until(lambda: "serving /health" in self.log(), 30, "nvr-health serving")


@pytest.fixture
def tls_box(tmp_path: Path) -> Iterator[tuple[Box, str, Path]]:
    cert, key = self_signed(tmp_path / "tls")
    (tmp_path / "noc.token").write_text(TOKEN + "\n")
    port = free_port()
    box = make_box(
        tmp_path,
        tls_listen=f"127.0.0.1:{port}",
        tls_cert_file=str(cert),
        tls_key_file=str(key),
        token_file=str(tmp_path / "noc.token"),
    )
    health = Health(box)
    yield box, f"https://127.0.0.1:{port}", cert
    assert health.stop() == 0
    text = health.log()
    assert "Traceback" not in text, text
    assert TOKEN not in text and TECH_PW not in text
    box.store.close()


def test_the_noc_polls_over_tls_with_its_token_and_pictures_need_a_login(
    tls_box: tuple[Box, str, Path],
) -> None:
    _, base, cert = tls_box
    noc = {"Authorization": f"Bearer {TOKEN}"}
    for path in ("/health", "/ready", "/metrics", "/health/live"):
        assert requests.get(base + path, headers=noc, verify=cert, timeout=10).status_code == 200
        refused = requests.get(base + path, verify=cert, timeout=10)
        assert refused.status_code == 401, path
        assert refused.headers["WWW-Authenticate"].startswith("Bearer")
        wrong = {"Authorization": "Bearer guessed"}
        assert requests.get(base + path, headers=wrong, verify=cert, timeout=10).status_code == 401
    # The token opens no picture: the page needs a technician, a snapshot a permitted viewer.
    assert requests.get(base + "/", headers=noc, verify=cert, timeout=10).status_code == 401
    page = requests.get(base + "/", auth=(TECH, TECH_PW), verify=cert, timeout=10)
    assert page.status_code == 200 and "Gate" in page.text
    guard = requests.get(base + "/", auth=(GUARD, GUARD_PW), verify=cert, timeout=10)
    assert guard.status_code == 403


def test_a_silent_or_plain_http_client_on_the_tls_port_harms_nobody(
    tls_box: tuple[Box, str, Path],
) -> None:
    _, base, cert = tls_box
    port = int(base.rsplit(":", 1)[1])
    # Connections that never say hello do not hold up the next client.
    silent = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(4)]
    try:
        started = time.monotonic()
        live = requests.get(
            base + "/health/live",
            headers={"Authorization": f"Bearer {TOKEN}"},
            verify=cert,
            timeout=10,
        )
        assert live.status_code == 200
        assert time.monotonic() - started < 5
    finally:
        for conn in silent:
            conn.close()
    with pytest.raises(requests.ConnectionError):
        requests.get(base.replace("https://", "http://") + "/health", timeout=10)
    # The fixture checks the log: one line for the plain-HTTP client, no traceback.


def test_plain_http_beyond_loopback_needs_the_operators_word(tmp_path: Path) -> None:
    box = make_box(tmp_path, listen=f"0.0.0.0:{free_port()}")
    (line,) = refused_start(
        [sys.executable, "-m", "nvr.cli.main", "config", "check", "--config", str(box.config_path)]
    )
    assert "health" in line and "would serve plain HTTP to the network" in line
    assert "tls_listen" in line and "plain_http_anywhere" in line
    box.store.close()


def test_a_body_larger_than_health_needs_is_refused_413_on_both_listeners(
    tls_box: tuple[Box, str, Path],
) -> None:
    box, base, cert = tls_box
    plain = "http://" + box.config.health.listen
    noc = {"Authorization": f"Bearer {TOKEN}"}
    big = b"x" * (MAX_REQUEST_BODY_BYTES + 1)
    for url, verify in ((base, cert), (plain, None)):
        # A declared length past the limit: 413 before the body is read; a small body
        # reaches the app as before.
        sized = requests.post(url + "/health", data=big, headers=noc, verify=verify, timeout=10)
        assert sized.status_code == 413, url
        small = requests.post(url + "/health", data=b"x", headers=noc, verify=verify, timeout=10)
        assert small.status_code == 405, url  # the app's own answer: GET only
    # waitress buffers a chunked body before the app runs: it stops at the limit. (cheroot
    # streams it to the app, which reads no body here, through a reader with the same cap.)
    chunked = requests.post(plain + "/health", data=iter([big]), headers=noc, timeout=10)
    assert chunked.status_code == 413
    # Headers without end are refused on the TLS listener too (cheroot's default: no limit).
    flood = {"X-Filler": "y" * (MAX_HEADER_BYTES + 1), **noc}
    assert requests.get(base + "/health", headers=flood, verify=cert, timeout=10).status_code in (
        413,
        431,
    )


def test_a_page_guesser_stays_throttled_across_a_restart_of_nvr_health(tmp_path: Path) -> None:
    box = make_box(tmp_path)
    page = f"http://{box.config.health.listen}/"
    health = Health(box)
    answers = [
        requests.get(page, auth=(TECH, f"guess-{n}"), timeout=10).status_code
        for n in range(CLIENT_FAILURES)
    ]
    assert answers == [401] * (CLIENT_FAILURES - 1) + [429]
    assert health.stop() == 0

    restarted = Health(box)
    # The technician's right password from the guesser's address: still throttled.
    answer = requests.get(page, auth=(TECH, TECH_PW), timeout=10)
    assert answer.status_code == 429 and 0 < int(answer.headers["Retry-After"]) <= WINDOW_SECONDS
    assert restarted.stop() == 0
    assert TECH_PW not in restarted.log()
    box.store.close()
