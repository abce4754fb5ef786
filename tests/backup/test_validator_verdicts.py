"""nvr-backup follows nvr-validator's verdicts (rows written the way nvr-validator writes them)."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable

from nvr.camsim import CameraSimulator
from nvr.core.state import StateStore
from nvrtest import wait_until

from .harness import Backup

MakeBackup = Callable[..., Backup]


def verdict(backup: Backup, camera: str, check: str, status: str, reason: str) -> float:
    now = time.time()
    conn = sqlite3.connect(backup.state_file, timeout=10)
    with conn:
        conn.execute(
            "INSERT INTO validations (camera, check_name, status, reason, checked_at_ms)"
            " VALUES (?, ?, ?, ?, ?)",
            (camera, check, status, reason, int(now * 1000)),
        )
    conn.close()
    return now


def test_wrong_codec_is_not_hammered(backup_factory: MakeBackup, sim: CameraSimulator) -> None:
    backup = backup_factory(["cam01", "cam02"], segment_seconds=4)
    StateStore.open(backup.state_file).close()
    verdict(backup, "cam02", "stream", "fail", "codec hevc, expected h264")
    backup.start()
    wait_until(lambda: backup.segments("cam01"), 60, "cam01 recording")
    time.sleep(3)
    assert "cam02 invalid stream (validator)" in backup.heartbeat()["status"]
    assert backup.query("SELECT count(*) FROM recording_runs WHERE camera = 'cam02'") == [(0,)]
    verdict(backup, "cam02", "stream", "ok", "")
    wait_until(lambda: backup.segments("cam02"), 60, "cam02 recording once the verdict clears")
    backup.stop()


def test_black_picture_stops_recording_only_when_configured(
    backup_factory: MakeBackup, sim: CameraSimulator
) -> None:
    backup = backup_factory(["cam01"], segment_seconds=4, record_when_invalid_picture=False)
    backup.start()
    wait_until(lambda: backup.segments("cam01"), 60, "cam01 recording")
    verdict(backup, "cam01", "black", "fail", "black picture")
    wait_until(
        lambda: "cam01 invalid picture (validator)" in backup.heartbeat()["status"],
        30,
        "cam01 stopped for its black picture",
    )
    cleared = verdict(backup, "cam01", "black", "ok", "")
    wait_until(lambda: [s for s in backup.segments("cam01") if s[1] / 1000 > cleared], 60, "back")
    backup.stop()
    reasons = backup.query("SELECT end_reason FROM recording_runs ORDER BY id")
    assert reasons == [("invalid picture (validator)",), ("shutdown",)]
