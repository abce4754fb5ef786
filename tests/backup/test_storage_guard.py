"""The storage guard names what is wrong with the recordings directory (issue 21).

It blocks recording with that reason instead of sending every camera into back-off.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable

import pytest

from nvr_camsim import CameraSimulator
from nvrtest import wait_until

from .harness import Backup

MakeBackup = Callable[..., Backup]

pytestmark = pytest.mark.timeout(180)


def status(backup: Backup) -> str:
    return str(backup.heartbeat().get("status", ""))


def blocked(backup: Backup, reason: str) -> str:
    """Wait for the STATUS naming the directory's `reason`; the one recording_blocked
    event's message."""
    wait_until(
        lambda: status(backup).startswith(f"NOT RECORDING: recordings directory {reason}"),
        60,
        f"the directory named {reason}",
    )
    (message,) = [m for _, m in backup.events("recording_blocked")]
    return message


def test_a_directory_nvr_backup_cannot_write_blocks_recording_with_its_reason(
    backup_factory: MakeBackup, sim: CameraSimulator
) -> None:
    backup = backup_factory(["cam01"], segment_seconds=4)
    # Immutable: even root may not create files in it (the tests run as root).
    subprocess.run(["chattr", "+i", backup.recordings], check=True)
    try:
        backup.start()
        message = blocked(backup, "not writable")
        assert "chown nvr:nvr" in message and "root filesystem" not in message
        # Blocked, not failing: no recording run was started and ended with a camera error.
        assert backup.query("SELECT count(*) FROM recording_runs") == [(0,)]
    finally:
        subprocess.run(["chattr", "-i", backup.recordings], check=True)
    wait_until(lambda: backup.segments("cam01"), 60, "recording once the directory is writable")
    backup.stop()
    assert [s for s, _ in backup.events("recording_unblocked")] == ["info"]


def test_a_missing_directory_is_not_called_an_unmounted_disk(
    backup_factory: MakeBackup, sim: CameraSimulator
) -> None:
    backup = backup_factory(["cam01"], segment_seconds=4)
    shutil.rmtree(backup.recordings)
    backup.start()
    message = blocked(backup, "missing")
    assert "storage.recordings_dir" in message and "root filesystem" not in message
    backup.recordings.mkdir()
    wait_until(lambda: backup.segments("cam01"), 60, "recording once the directory exists")
    backup.stop()
