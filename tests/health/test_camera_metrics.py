"""Per-camera health and per-daemon resources in /metrics, and the alert rules on them.

nvr-backup writes what it measured (fps, bitrate, uptime, reconnects per hour) into its
heartbeat; nvr-health turns it into metrics; promtool runs the alert rules over series a
NOC would scrape, so CameraLowFPS is shown to fire after 5 minutes, not just to parse.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from nvr.health.app import create_app
from nvrtest.box import Box

pytestmark = pytest.mark.timeout(60)
RULES = Path(__file__).resolve().parents[2] / "etc" / "prometheus" / "nvr-alerts.yml"


def scrape(box: Box) -> set[str]:
    answer = create_app(box.sources()).test_client().get("/metrics")
    assert answer.status_code == 200
    return set(answer.get_data(as_text=True).splitlines())


def expect_fps(box: Box, camera: str, fps: float) -> None:
    data = yaml.safe_load(box.config_path.read_text())
    for entry in data["cameras"]:
        if entry["id"] == camera:
            entry["expect"] = {"fps": fps}
    box.config_path.write_text(yaml.safe_dump(data))


def test_measured_camera_health_and_daemon_resources_are_metrics(box: Box) -> None:
    expect_fps(box, "cam01", 25)
    measured = {"fps": 11.5, "bitrate_bps": 800_000, "uptime_s": 3600, "reconnects_per_hour": 2}
    cameras: dict[str, Any] = {
        "cam01": {"state": "recording", "reason": None, "failures": 0, **measured},
        "cam02": {"state": "waiting", "reason": "camera offline", "failures": 3},
    }
    box.beat("nvr-backup", {"blocked": None, "index_backlog": 0, "cameras": cameras})
    lines = scrape(box)
    assert 'nvr_camera_fps{camera="cam01"} 11.5' in lines
    assert 'nvr_camera_expected_fps{camera="cam01"} 25.0' in lines
    assert 'nvr_camera_bitrate_bits_per_second{camera="cam01"} 800000.0' in lines
    assert 'nvr_camera_uptime_seconds{camera="cam01"} 3600.0' in lines
    assert 'nvr_camera_reconnects_per_hour{camera="cam01"} 2.0' in lines
    assert not any(line.startswith('nvr_camera_fps{camera="cam02"}') for line in lines)
    # The heartbeat rows carry this test's pid: its own CPU and memory are measured.
    memory = [
        line for line in lines if line.startswith('nvr_daemon_memory_bytes{daemon="nvr-backup"}')
    ]
    assert memory and float(memory[0].split()[-1]) > 10 * 2**20
    assert any(
        line.startswith('nvr_daemon_cpu_seconds_total{daemon="nvr-backup"}') for line in lines
    )


LABELS = {"instance": "box", "job": "nvr"}


def _series(name: str, values: str, **labels: str) -> dict[str, str]:
    text = ", ".join(f'{key}="{value}"' for key, value in {**LABELS, **labels}.items())
    return {"series": f"{name}{{{text}}}", "values": values}


def _fires(at: str, alert: str, summary: str, description: str | None = None, **labels: str):
    annotations = {"summary": summary}
    if description is not None:
        annotations["description"] = description
    expected = {"exp_labels": {"severity": "warning", **LABELS, **labels},
                "exp_annotations": annotations}  # fmt: skip
    return {"eval_time": at, "alertname": alert, "exp_alerts": [expected]}


def test_alert_rules_fire_on_low_fps_high_cpu_and_high_memory(tmp_path: Path) -> None:
    series = [
        _series("nvr_camera_fps", "10x20", camera="cam01"),
        _series("nvr_camera_expected_fps", "25x20", camera="cam01"),
        _series("nvr_camera_recording", "1x20", camera="cam01"),
        _series("nvr_camera_fps", "24x20", camera="cam02"),
        _series("nvr_camera_expected_fps", "25x20", camera="cam02"),
        _series("nvr_camera_recording", "1x20", camera="cam02"),
        # 0.95 CPU seconds per second for 20 minutes.
        _series("nvr_daemon_cpu_seconds_total", "0+57x20", daemon="nvr-validator"),
        _series("nvr_daemon_memory_bytes", "250000000x20", daemon="nvr-report"),
        _series("nvr_daemon_memory_max_bytes", "268435456x20", daemon="nvr-report"),
    ]
    checks = [
        {"eval_time": "4m", "alertname": "NvrCameraLowFPS", "exp_alerts": []},
        _fires("6m", "NvrCameraLowFPS", "box: camera cam01 records 10 fps",
               "Under half of expect.fps for 5 minutes; check the camera and its link.",
               camera="cam01"),
        _fires("20m", "NvrHighCPU", "box: nvr-validator uses 95% of a core",
               daemon="nvr-validator"),
        _fires("12m", "NvrHighMemory", "box: nvr-report memory high (0.9313225746154785)",
               daemon="nvr-report"),
    ]  # fmt: skip
    tests = {
        "rule_files": [str(RULES)],
        "evaluation_interval": "1m",
        "tests": [{"interval": "1m", "input_series": series, "alert_rule_test": checks}],
    }
    path = tmp_path / "rules_test.yml"
    path.write_text(yaml.safe_dump(tests, sort_keys=False))
    done = subprocess.run(
        ["promtool", "test", "rules", str(path)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
