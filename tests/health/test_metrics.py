"""/metrics: Prometheus text that promtool accepts, with the numbers the alert rules use."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from nvr.health.app import create_app
from nvrtest.box import Box

pytestmark = pytest.mark.timeout(60)


def scrape(box: Box) -> str:
    answer = create_app(box.sources()).test_client().get("/metrics")
    assert answer.status_code == 200
    assert answer.content_type.startswith("text/plain; version=0.0.4")
    return answer.get_data(as_text=True)


def test_promtool_finds_nothing_to_complain_about(box: Box) -> None:
    box.run("cam01", box.now - 9_000_000, box.now - 8_000_000, "camera offline")
    box.report(box.now - 60_000)
    text = scrape(box)
    done = subprocess.run(
        ["promtool", "check", "metrics"], input=text, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0 and not done.stdout + done.stderr, done.stdout + done.stderr


def test_metrics_show_cameras_disk_uplink_and_daemons(box: Box) -> None:
    with box.store.write() as conn:
        conn.execute("DELETE FROM segments WHERE camera = 'cam02'")
    box.run("cam01", box.now - 9_000_000, box.now - 8_000_000, "camera offline")
    box.report(box.now - 120_000)
    lines = set(scrape(box).splitlines())
    assert 'nvr_camera_up{camera="cam01"} 1.0' in lines
    assert 'nvr_camera_up{camera="cam02"} 0.0' in lines
    assert 'nvr_camera_segments{camera="cam01"} 5.0' in lines
    assert 'nvr_camera_stored_bytes{camera="cam01"} 2.5e+06' in lines
    assert 'nvr_ffmpeg_restarts_total{camera="cam01",reason="camera offline"} 1.0' in lines
    assert "nvr_disk_size_bytes 1e+12" in lines
    assert 'nvr_uplink_oldest_pending_age_seconds{destination="head_office"} 120.0' in lines
    assert 'nvr_daemon_heartbeat_age_seconds{daemon="nvr-backup"} 0.0' in lines
    assert "nvr_health_status 2.0" in lines  # cam02 has nothing recorded: unhealthy
    assert any(line.startswith("nvr_build_info{version=") for line in lines)


def test_alert_rules_are_valid() -> None:
    done = subprocess.run(
        ["promtool", "check", "rules", "etc/prometheus/nvr-alerts.yml"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    groups = yaml.safe_load(Path("etc/prometheus/nvr-alerts.yml").read_text())["groups"]
    rules = sum(len(group["rules"]) for group in groups)
    assert f"SUCCESS: {rules} rules found" in done.stdout
    names = {rule["alert"] for group in groups for rule in group["rules"]}
    assert {
        "NvrCameraLowFPS",
        "NvrHighCPU",
        "NvrHighMemory",
        "NvrDaemonCrashed",
        "NvrDaemonDown",
        "NvrOutboxFilling",
        "NvrOutboxFull",
    } <= names
