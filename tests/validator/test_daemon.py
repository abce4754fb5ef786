"""nvr-validator run for real: READY, STATUS, rows, events on ok -> fail -> ok, clean stop.

A failure becomes an event only when the next check (30 s later) confirms it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from nvr_camsim import CameraSimulator, Fault
from nvrtest import query_state, ready_daemon, wait_until

from .conftest import HEIGHT, WIDTH

pytestmark = pytest.mark.timeout(240)
INTERVAL = 10


query = query_state


def test_daemon_reports_a_frozen_camera_and_its_recovery(
    sim: CameraSimulator, tmp_path: Path
) -> None:
    state_file = tmp_path / "state" / "state.db"
    state_file.parent.mkdir()
    config = tmp_path / "nvr.yaml"
    cameras = sim.camera_ids[:2]
    config.write_text(
        yaml.safe_dump(
            {
                "site": {"id": "test-01"},
                "storage": {"recordings_dir": str(tmp_path), "state_file": str(state_file)},
                "validation": {"interval_seconds": INTERVAL, "workers": 2},
                "cameras": [
                    {
                        "id": c,
                        "url": sim.camera_url(c),
                        "expect": {"width": WIDTH, "height": HEIGHT},
                    }
                    for c in cameras
                ],
            }
        )
    )
    with ready_daemon("nvr.validator.main", config, tmp_path, stop_timeout=60) as (
        validator,
        notify,
    ):
        wait_until(lambda: any("STATUS=2 cameras: 2 ok" in m for m in notify.messages), 90, "2 ok")
        sim.set_fault("cam02", Fault.FROZEN)
        wait_until(
            lambda: any("STATUS=2 cameras: 1 ok, 1 frozen (cam02)" in m for m in notify.messages),
            90,
            "frozen in STATUS",
        )
        # One failing check is no event yet: the daemon checks again in 30 s to confirm.
        assert not query(state_file, "SELECT 1 FROM events WHERE kind = 'camera_invalid'")
        wait_until(
            lambda: query(state_file, "SELECT 1 FROM events WHERE kind = 'camera_invalid'"),
            90,
            "camera_invalid confirmed",
        )
        failing = query(
            state_file,
            "SELECT count(DISTINCT checked_at_ms) FROM validations WHERE camera = 'cam02'"
            " AND status = 'fail'",
        )
        assert failing[0][0] >= 2, "the event came before a second failing check"
        sim.set_fault("cam02", None)
        wait_until(
            lambda: query(state_file, "SELECT 1 FROM events WHERE kind = 'camera_valid'"),
            90,
            "camera_valid event",
        )
    events = query(state_file, "SELECT kind, camera, message FROM events ORDER BY id")
    kinds = [(k, c) for k, c, _ in events]
    assert kinds == [("camera_invalid", "cam02"), ("camera_valid", "cam02")]
    assert "frozen" in events[0][2]
    checks = query(state_file, "SELECT DISTINCT check_name FROM validations WHERE camera = 'cam01'")
    assert {"reachable", "stream", "frozen"} <= {row[0] for row in checks}
    assert (state_file.parent / "snapshots" / "cam02" / "last_bad.jpg").exists()
    assert any(m.startswith("STOPPING=1") for m in notify.messages)
    text = validator.log()
    assert "nvr-validator stopped" in text
    for camera in cameras:
        assert sim.password(camera) not in text
