"""Heartbeats to head office: nvr-uplink signs them like reports; nvr-headoffice checks the
signature and shows the site online, then offline once they stop.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from headoffice.helpers import HeadOffice
from nvr.core.redact import Secret
from nvr.core.signing import report_signature
from nvrtest import base_config, wait_until
from uplink.helpers import Process

pytestmark = pytest.mark.timeout(120)

SITE = "test-01"
SECRET = "ho-heartbeat-secret-91d3"
INTERVAL_S = 1
TIMEOUT_S = 3  # the production ratio: 40 s against 120 s


def heartbeat_of(receiver: HeadOffice) -> dict[str, Any] | None:
    beats: dict[str, dict[str, Any]] = receiver.get("/api/heartbeats").json()
    return beats.get(SITE)


def test_head_office_sees_the_box_online_then_offline(
    tmp_path: Path, processes: list[Process]
) -> None:
    (tmp_path / "site.key").write_text(SECRET + "\n")
    sites = tmp_path / "sites.yaml"
    sites.write_text(
        yaml.safe_dump(
            {
                "sites": {SITE: {"secret_file": str(tmp_path / "site.key")}},
                "heartbeat_timeout_seconds": TIMEOUT_S,
            }
        )
    )
    receiver = HeadOffice(tmp_path, sites)
    try:
        uplink = {
            "head_office": {"url": receiver.reports_url, "secret_file": str(tmp_path / "site.key")},
            "heartbeat": {
                "interval_seconds": INTERVAL_S,
                "head_office_url": f"{receiver.url}/api/nvr/heartbeat",
            },
        }
        config = tmp_path / "nvr.yaml"
        config.write_text(yaml.safe_dump(base_config(tmp_path, uplink=uplink)))
        box = Process("nvr.uplink.main", config)
        processes.append(box)

        first = wait_until(
            lambda: (beat := heartbeat_of(receiver)) and beat["online"] and beat, 30, "online"
        )
        assert first["last"]["box_id"] == SITE and first["last"]["online"] is True
        # Several beats later it is still online, and the beat counter moved on.
        wait_until(
            lambda: heartbeat_of(receiver)["last"]["beat"] >= first["last"]["beat"] + 3,  # type: ignore[index]
            30,
            "three more heartbeats",
        )
        assert heartbeat_of(receiver)["online"]  # type: ignore[index]
        # A heartbeat signed with another secret is refused (401).
        body = b'{"box_id":"test-01","online":true}'
        stamp = str(int(time.time()))
        forged = requests.post(
            f"{receiver.url}/api/nvr/heartbeat",
            data=body,
            headers={
                "X-NVR-Site": SITE,
                "X-NVR-Timestamp": stamp,
                "X-NVR-Signature": report_signature(Secret("not-the-secret"), stamp, body),
            },
            timeout=10,
        )
        assert forged.status_code == 401, forged.text

        assert box.stop() == 0
        stopped = time.monotonic()
        wait_until(lambda: not heartbeat_of(receiver)["online"], 30, "offline")  # type: ignore[index]
        assert time.monotonic() - stopped <= TIMEOUT_S + 2
    finally:
        assert receiver.stop() == 0
        assert SECRET not in receiver.log() and "Traceback" not in receiver.log()
