"""nvr-backup and nvr-validator's verdicts (rows written the way nvr-validator writes them).

Recording comes first: no verdict stops recording except the picture policy the operator
set (`record_when_invalid_picture: false`, black or covered), and that pause is named in
the coverage. See docs/design/validation.md, invariant 6.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable

from nvr.core.state import StateStore
from nvr.core.tables.recordings import EndReason, coverage
from nvr_camsim import CameraSimulator
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


def test_doubtful_verdicts_never_stop_recording_even_across_a_restart(
    backup_factory: MakeBackup, sim: CameraSimulator
) -> None:
    # The policy is on, so only the kind of verdict decides.
    backup = backup_factory(
        ["cam01", "cam02", "cam03"], segment_seconds=4, record_when_invalid_picture=False
    )
    StateStore.open(backup.state_file).close()
    # What the validator wrote before nvr-backup (re)started: a session it could not open,
    # an expect.codec typo of the old validator, a frozen picture.
    verdict(backup, "cam01", "stream", "fail", "cannot read the stream: 400 Bad Request")
    verdict(backup, "cam02", "stream", "fail", "codec is h264, expected hevc")
    verdict(backup, "cam03", "frozen", "fail", "frozen picture")
    backup.start()
    for camera in ("cam01", "cam02", "cam03"):
        wait_until(lambda c=camera: backup.segments(c), 60, f"{camera} recording")
    assert "held" not in backup.log() and "paused" not in backup.log()
    backup.stop()
    # A restart within the validation interval, the verdicts still standing.
    restarted = time.time()
    backup.start()
    for camera in ("cam01", "cam02", "cam03"):
        wait_until(
            lambda c=camera: [s for s in backup.segments(c) if s[1] / 1000 > restarted],
            60,
            f"{camera} recording after the restart",
        )
    backup.stop()
    reasons = {r[0] for r in backup.query("SELECT end_reason FROM recording_runs")}
    assert reasons == {"shutdown"}


def test_black_picture_pauses_only_when_configured_and_coverage_says_so(
    backup_factory: MakeBackup, sim: CameraSimulator
) -> None:
    backup = backup_factory(["cam01"], segment_seconds=4, record_when_invalid_picture=False)
    backup.start()
    wait_until(lambda: backup.segments("cam01"), 60, "cam01 recording")
    verdict(backup, "cam01", "black", "fail", "black picture")
    wait_until(
        lambda: f"cam01 {EndReason.PICTURE_POLICY}" in backup.heartbeat().get("status", ""),
        30,
        "cam01 paused for its black picture",
    )
    # nvr-backup restarts while the verdict stands: the camera stays paused, and the
    # coverage names the pause, not "shutdown" or "not recording".
    backup.stop()
    restarted = time.time()
    backup.start()
    wait_until(
        lambda: f"cam01 {EndReason.PICTURE_POLICY}" in backup.heartbeat().get("status", ""),
        30,
        "cam01 still paused after the restart",
    )
    time.sleep(2)  # the pause must hold, not only begin
    assert not [s for s in backup.segments("cam01") if s[1] / 1000 > restarted]
    with sqlite3.connect(backup.state_file) as conn:
        gaps = coverage(conn, "cam01", int(restarted * 1000) - 4000, int(time.time() * 1000)).gaps
    assert gaps[-1].reason == EndReason.PICTURE_POLICY, gaps
    cleared = verdict(backup, "cam01", "black", "ok", "")
    wait_until(lambda: [s for s in backup.segments("cam01") if s[1] / 1000 > cleared], 60, "back")
    backup.stop()
    reasons = backup.query("SELECT end_reason FROM recording_runs ORDER BY id")
    # Paused while recording, paused again at the restart (a run that ends as it starts),
    # then recording until the end.
    assert reasons == [(EndReason.PICTURE_POLICY,), (EndReason.PICTURE_POLICY,), ("shutdown",)]
