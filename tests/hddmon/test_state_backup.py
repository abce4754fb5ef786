"""nvr-hddmon's daily state-file backup: checked copies on the recordings disk, the newest
few kept, and a warning event when a backup fails (issue 21)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hddmon_helpers import Harness, add_segment, events, make_daemon, make_env, settle

from nvr.core.state import now_ms
from nvr.core.statebackup import BACKUP_DIR_NAME, integrity_problem, list_backups
from nvr.hddmon.statebackup import StateBackupJob
from nvrtest import wait_until

pytestmark = pytest.mark.timeout(60)


class Wall:
    """The job's wall clock, moved by the test a day at a time."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 1, 3, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def backed_up(harness: Harness, count: int) -> bool:
    harness.daemon.tick()
    return (
        len(list_backups(harness.daemon.config.storage.recordings_dir / BACKUP_DIR_NAME)) >= count
    )


def finished_at(harness: Harness, taken_at: datetime) -> bool:
    harness.daemon.tick()
    last = harness.daemon.state_backup.last
    return last is not None and last.taken_at == taken_at


def test_daily_copies_are_checked_and_the_newest_kept(tmp_path: Path, recordings: Path) -> None:
    env = make_env(tmp_path, recordings, disk={"state_backup_hours": 24, "state_backups_kept": 2})
    add_segment(env.store, recordings, "cam01", now_ms() - 60_000)
    harness = make_daemon(env)
    wall = Wall()
    harness.daemon.state_backup = StateBackupJob(wall)
    settle(harness)
    wait_until(lambda: backed_up(harness, 1), 20, "the first backup, at start")
    for _ in range(10):  # not due again the same day
        harness.daemon.tick()
    assert len(list_backups(recordings / BACKUP_DIR_NAME)) == 1
    for day in (1, 2):
        wall.now += timedelta(days=1)
        # Finished means the job handed back its outcome: the copy written AND the old
        # ones pruned (the new file appears before the pruning, in the job's thread).
        wait_until(lambda: finished_at(harness, wall.now), 20, f"day {day}'s copy")
    kept = list_backups(recordings / BACKUP_DIR_NAME)
    assert [b.taken_at for b in kept] == [wall.now, wall.now - timedelta(days=1)]
    for backup in kept:
        assert integrity_problem(backup.path) is None
        # The copy holds the index: the segment row is in it.
        conn = sqlite3.connect(backup.path)
        assert conn.execute("SELECT count(*) FROM segments").fetchone() == (1,)
        conn.close()
    detail = wait_until(
        lambda: (
            backed_up(harness, 2)
            and (d := harness.daemon.heartbeat_detail()["state_backup"])["last"]
            == wall.now.isoformat()
            and d
        ),
        20,
        "the heartbeat naming the newest copy",
    )
    assert detail["error"] is None


def test_a_failed_backup_is_a_warning_event_once_per_try(tmp_path: Path, recordings: Path) -> None:
    env = make_env(tmp_path, recordings, disk={"state_backup_hours": 24})
    (recordings / BACKUP_DIR_NAME).write_text("not a directory")  # mkdir will fail
    harness = make_daemon(env)
    wall = Wall()
    harness.daemon.state_backup = StateBackupJob(wall)
    settle(harness)

    def failed() -> list[dict[str, object]]:
        harness.daemon.tick()
        return events(env.store, "state_backup_failed")

    (event,) = wait_until(failed, 20, "the failure event")
    assert event["severity"] == "warning" and BACKUP_DIR_NAME in str(event["message"])
    for _ in range(20):  # the next try is an hour later, not every tick
        harness.daemon.tick()
    assert len(events(env.store, "state_backup_failed")) == 1
    assert harness.daemon.heartbeat_detail()["state_backup"]["error"]
