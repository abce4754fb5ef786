"""`nvrctl status`: the technician's screen agrees with /health and exits 1 when critical."""

from __future__ import annotations

import argparse
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from nvr.cli import status_cmd
from nvr.health.app import create_app
from nvr.health.probes import ProbeBoard
from nvrtest.box import PASSWORD, Box, make_box

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def box(tmp_path: Path) -> Iterator[Box]:
    made = make_box(tmp_path)
    yield made
    made.store.close()


def status(box: Box, *flags: str) -> tuple[int, str]:
    """Run `nvrctl status` through its own argparse registration, at the box's time."""
    parser = argparse.ArgumentParser(prog="nvrctl")
    status_cmd.add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["status", "--config", str(box.config_path), *flags])
    assert args.func is status_cmd.show_status
    out = io.StringIO()
    code = status_cmd.run_status(box.config, as_json=args.json, out=out, clock=lambda: box.now)
    return code, out.getvalue()


def health(box: Box) -> dict[str, Any]:
    """/health once nvr-health's tick has probed (the one-shot command probes too)."""
    probes = ProbeBoard()
    probes.refresh(box.config, box.now, livestream_in_use=False)
    client: FlaskClient = create_app(box.sources(probes)).test_client()
    body: dict[str, Any] = client.get("/health").get_json()
    return body


def test_healthy_box_shows_every_section_and_exits_0(box: Box) -> None:
    code, text = status(box)
    assert code == 0
    assert text.startswith("NVR test-01 (Test site): HEALTHY")
    for title in ("DAEMONS", "CAMERAS", "DISK", "UPLINK"):
        assert f"\n{title}\n" in text
    assert "PROBLEMS" not in text
    backup = next(line for line in text.splitlines() if "nvr-backup" in line)
    assert "running" in backup and "beat 0 s ago" in backup and "nvr-backup fine" in backup
    cam = next(line for line in text.splitlines() if "cam01 (Gate)" in line)
    assert "recording" in cam and "last segment 10 s ago" in cam and "validation ok" in cam
    assert "50.0% used" in text
    assert "head_office      backlog 0" in text


def test_json_is_the_health_endpoint_body(box: Box) -> None:
    box.validation("cam02", "fail", "picture frozen for 4 s", check="frozen")
    code, text = status(box, "--json")
    assert code == 0
    assert json.loads(text) == health(box)


def test_stale_daemon_is_critical_with_cause_and_exit_1(box: Box) -> None:
    box.beat("nvr-uplink", updated_at_ms=box.now - 60_000)
    code, text = status(box)
    assert code == 1
    assert text.startswith("NVR test-01 (Test site): UNHEALTHY")
    problems = text.split("PROBLEMS\n", 1)[1]
    assert "CRIT daemon:nvr-uplink: heartbeat 60 s old, expected every 5 s" in problems
    assert "journalctl -u nvr-uplink" in problems


def test_camera_not_recording_is_critical_in_json_too(box: Box) -> None:
    with box.store.write() as conn:
        conn.execute("DELETE FROM segments WHERE camera = 'cam02'")
    code, text = status(box, "--json")
    body = json.loads(text)
    assert (code, body["status"]) == (1, "unhealthy")
    assert [check["name"] for check in body["failing"]] == ["camera:cam02"]
    assert body == health(box)


def test_warnings_show_but_exit_0(box: Box) -> None:
    box.hddmon(92.0)
    box.uplink(340, health="circuit open", error="connect timeout")
    code, text = status(box)
    assert code == 0
    assert "DEGRADED" in text.splitlines()[0]
    assert "WARN disk: recordings disk 92.0% full (above 90%)" in text
    assert "backlog 340" in text and "circuit open" in text


def test_status_never_prints_a_camera_password(box: Box) -> None:
    box.beat("nvr-backup", status=f"cam01 failed: rtsp://admin:{PASSWORD}@10.0.0.5/x")
    for flags in ((), ("--json",)):
        _, text = status(box, *flags)
        assert PASSWORD not in text


def test_missing_state_file_is_critical(tmp_path: Path, box: Box) -> None:
    (tmp_path / "state" / "state.db").unlink()
    code, text = status(box)
    assert code == 1
    assert text.startswith("CRIT state: state file unreadable")
