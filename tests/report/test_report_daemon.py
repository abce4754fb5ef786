"""nvr-report run for real: READY, event reports as events appear, coalescing, SIGTERM."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from nvr.core.state import StateStore
from nvr.core.tables.events import Severity, record_event
from nvrtest import ready_daemon, wait_until

from .test_reports import config_dict, outbox

pytestmark = pytest.mark.timeout(120)


def events_reported(state_file: Path) -> list[dict[str, Any]]:
    return [e for e in outbox(state_file) if e["kind"] in ("event", "alarm")]


def test_report_daemon_turns_events_into_coalesced_reports(tmp_path: Path) -> None:
    state_file = tmp_path / "state.db"
    config = tmp_path / "nvr.yaml"
    data = config_dict(tmp_path)
    data["report"]["event_coalesce_seconds"] = 2
    config.write_text(yaml.safe_dump(data))
    store = StateStore.open(state_file)
    record_event(
        store,
        source="nvr-backup",
        severity=Severity.WARNING,
        kind="camera_offline",
        camera="cam02",
        message="history before the first start",
    )
    with store.write() as conn:
        conn.execute(
            "INSERT INTO heartbeats (daemon, pid, state, status, started_at_ms, updated_at_ms,"
            " interval_ms) VALUES ('nvr-backup', 1, 'running', '', 1000, 1000, 5000)"
        )
    with ready_daemon("nvr.report.main", config, tmp_path) as (report, notify):
        wait_until(
            lambda: (
                "nvr-backup"
                in json.loads(
                    store.read()
                    .execute("SELECT value FROM report_state WHERE key = 'daemon_starts'")
                    .fetchone()[0]
                    if store.read()
                    .execute("SELECT 1 FROM report_state WHERE key = 'daemon_starts'")
                    .fetchone()
                    else "{}"
                )
            ),
            20,
            "daemon start times noted",
        )
        for i in range(6):
            kind = "camera_offline" if i % 2 == 0 else "camera_recovered"
            record_event(
                store,
                source="nvr-backup",
                severity=Severity.WARNING,
                kind=kind,
                camera="cam01",
                message=f"cam01 {kind} #{i}",
            )
        record_event(
            store,
            source="nvr-hddmon",
            severity=Severity.CRITICAL,
            kind="disk_read_only",
            message="recordings filesystem read-only",
        )
        with store.write() as conn:
            conn.execute("UPDATE heartbeats SET started_at_ms = 2000 WHERE daemon = 'nvr-backup'")
            conn.execute(
                "INSERT INTO validations (camera, check_name, status, reason, checked_at_ms)"
                " VALUES ('cam02', 'fps', 'fail', 'fps 3 < 25', 5)"
            )
        wait_until(lambda: len(events_reported(state_file)) >= 5, 30, "event reports")
        reports = wait_until(
            lambda: [e for e in events_reported(state_file) if e["body"]["count"] > 1],
            30,
            "the coalesced summary of the flapping camera",
        )
        assert reports[0]["body"]["count"] == 5 and reports[0]["body"]["camera"] == "cam01"
        assert wait_until(
            lambda: any("STATUS=" in m and "reports queued" in m for m in notify.messages),
            20,
            "STATUS line",
        )
    bodies = [
        (e["kind"], e["body"]["event"], e["body"].get("camera"))
        for e in events_reported(state_file)
    ]
    assert bodies[0] == ("event", "camera_offline", "cam01")  # at once, not after the window
    assert ("alarm", "disk_read_only", None) in bodies
    assert ("event", "daemon_restarted", None) in bodies
    assert ("event", "validation_failed", "cam02") in bodies
    assert all(b[2] != "cam02" or b[1] != "camera_offline" for b in bodies)  # no history
    assert len([b for b in bodies if b[2] == "cam01"]) == 2  # 6 flaps, 2 reports
    seqs = [e["seq"] for e in outbox(state_file)]
    assert seqs == list(range(1, len(seqs) + 1))
    store.close()
    assert "k3y-abcdef" not in report.log()
