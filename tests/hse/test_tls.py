"""nvr-hse over TLS: the centre reaches the API and the alarm WebSocket with the box's
certificate (https://, wss://), and plain HTTP beyond loopback needs the operator's word.

nvr-hse alone (no camera is needed: a posted event becomes an alarm without a picture);
the certificate is the installer's self-signed one, pinned by the client.
"""

from __future__ import annotations

import json
import ssl
import sys
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from nvr.core.config import load_config
from nvr_camsim.mediamtx import free_port
from nvrtest import base_config, ready_daemon, refused_start, self_signed

pytestmark = pytest.mark.timeout(120)

TOKEN = "centre-token-tls-9d41"


def hse_config(root: Path, **hse: Any) -> Path:
    path = root / "nvr.yaml"
    section = {"listen": f"127.0.0.1:{free_port()}", "token": TOKEN, **hse}
    config = base_config(root, livestream={"public_host": "127.0.0.1"}, hse=section)
    path.write_text(yaml.safe_dump(config))
    return path


def test_the_centre_reaches_the_api_and_alarm_websocket_over_tls(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path / "tls")
    port = free_port()
    config = hse_config(
        tmp_path, tls_listen=f"127.0.0.1:{port}", tls_cert_file=str(cert), tls_key_file=str(key)
    )
    base, auth = f"https://127.0.0.1:{port}", {"Authorization": f"Bearer {TOKEN}"}
    pinned = ssl.create_default_context(cafile=str(cert))
    with ready_daemon("nvr.hse.main", config, tmp_path) as (daemon, _):
        # What the box advertises for the backend's registry is TLS, on the TLS port.
        health = requests.get(f"{base}/api/health", headers=auth, verify=cert, timeout=10)
        assert health.status_code == 200
        assert health.json()["urls"] == {
            "api_url": f"{base}/api",
            "alarm_ws_url": f"wss://127.0.0.1:{port}/alarm/",
            "webrtc_url": f"{base}/webrtc",
        }
        assert requests.get(f"{base}/api/cameras", verify=cert, timeout=10).status_code == 401

        # The WebSocket: refused at the upgrade without the token, alarms with it.
        with pytest.raises(InvalidStatus) as refused:
            connect(f"wss://127.0.0.1:{port}/alarm/", ssl=pinned, open_timeout=10)
        assert refused.value.response.status_code == 401
        url = f"wss://127.0.0.1:{port}/alarm/?token={TOKEN}"
        with connect(url, ssl=pinned, open_timeout=10) as ws:
            posted = requests.post(
                f"{base}/api/events",
                json={"camera": "cam01", "type": "NoHelmet"},
                headers=auth,
                verify=cert,
                timeout=10,
            )
            assert posted.status_code == 201, posted.text
            # The alarm is made on nvr-hse's next tick: a busy box may take a while.
            alarm = json.loads(ws.recv(timeout=60))
        assert (alarm["alarm_type"], alarm["camera_id"]) == ("NoHelmet", "cam01")
        assert alarm["event_id"] == posted.json()["id"]

        # A client that does not check the certificate against the box's is refused.
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(f"{base}/api/health", headers=auth, timeout=10)
        # Plain HTTP on the TLS port gets no answer.
        with pytest.raises(requests.ConnectionError):
            requests.get(f"http://127.0.0.1:{port}/api/health", headers=auth, timeout=10)
    text = daemon.log()
    assert "Traceback" not in text, text
    assert TOKEN not in text
    assert f"alarm_ws_url=wss://127.0.0.1:{port}/alarm/" in text  # said at start too


def test_plain_http_beyond_loopback_needs_the_operators_word(tmp_path: Path) -> None:
    config = hse_config(tmp_path, listen=f"0.0.0.0:{free_port()}")
    line = refused_start([sys.executable, "-m", "nvr.hse.main", "--config", str(config)])[-1]
    assert line.startswith("nvr-hse: error: hse.listen 0.0.0.0:")
    assert "would serve plain HTTP to the network" in line and "plain_http_anywhere" in line
    # Refused by nvr-hse alone: a box set up before the rule keeps recording (the other
    # daemons load the same file).
    assert load_config(config).hse is not None
    # With the operator's word it serves the LAN in plain HTTP.
    port = free_port()
    config = hse_config(tmp_path, listen=f"0.0.0.0:{port}", plain_http_anywhere=True)
    with ready_daemon("nvr.hse.main", config, tmp_path):
        answer = requests.get(f"http://127.0.0.1:{port}/api/health", timeout=10)
        assert answer.status_code == 401  # served (the token is still needed)
