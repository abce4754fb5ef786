"""The NOC split and TLS on nvr-health, run for real (issue 18: TLS, NOC, health.listen).

The certificate is the one `nvrctl tls self-signed` makes at install; clients verify it
against itself (pinned), as a NOC would with a self-signed box.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from nvr.core.process import child_environment
from nvrtest import Child, wait_until
from nvrtest.box import GUARD, GUARD_PW, TECH, TECH_PW, Box, free_port, make_box

pytestmark = pytest.mark.timeout(90)

TOKEN = "noc-token-51d2e0a9c4"


def self_signed(directory: Path) -> tuple[Path, Path]:
    made = subprocess.run(
        [sys.executable, "-m", "nvr.cli.main", "tls", "self-signed", "--dir", str(directory)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "wrote" in made.stdout
    key = directory / "nvr.key"
    assert key.stat().st_mode & 0o077 == 0o040  # owner rw, group r, others nothing
    return directory / "nvr.crt", key


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
    check = subprocess.run(
        [sys.executable, "-m", "nvr.cli.main", "config", "check", "--config", str(box.config_path)],
        capture_output=True,
        text=True,
        timeout=60,
        env=child_environment(),
        check=False,
    )
    assert check.returncode == 1
    (line,) = check.stderr.strip().splitlines()
    assert "health" in line and "would serve plain HTTP to the network" in line
    assert "tls_listen" in line and "plain_http_anywhere" in line
    box.store.close()
