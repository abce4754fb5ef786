"""A corrupt state file restored from nvr-hddmon's backup, with the real product running:
recording and delivery carry on, nothing the backup held is lost, nothing is stored twice
at head office (issue 21)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from nvr.core.statebackup import BACKUP_DIR_NAME, integrity_problem, list_backups
from nvr_camsim import CameraSimulator
from nvrtest import SIM_BITRATE, SIM_HEIGHT, SIM_WIDTH, NvrDaemon, wait_until
from nvrtest.headoffice import HeadOffice

from .test_with_product import DAEMONS, heartbeat, nvr_config, query

pytestmark = pytest.mark.timeout(240)


def run(nvrctl: list[str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*nvrctl, *args], capture_output=True, text=True, timeout=120)


def segment_paths(state_file: Path) -> set[str]:
    return {row[0] for row in query(state_file, "SELECT path FROM segments")}


def files_on_disk(recordings: Path) -> set[str]:
    return {
        str(p.relative_to(recordings))
        for p in recordings.glob("cam01/*/*")
        if p.is_file() and p.stat().st_size > 1024
    }


def start_all(config: Path, state_file: Path) -> list[NvrDaemon]:
    daemons = [NvrDaemon(module, config) for module in DAEMONS]
    wait_until(
        lambda: (
            heartbeat(state_file, "nvr-backup").get("cameras", {}).get("cam01", {}).get("state")
            == "recording"
        ),
        60,
        "cam01 recording",
    )
    return daemons


def stop_all(daemons: list[NvrDaemon]) -> None:
    codes = {d.name: d.stop() for d in daemons if d.proc is not None}
    assert set(codes.values()) == {0}, codes


def delivered(headoffice: HeadOffice, state_file: Path) -> bool:
    """Everything the box queued so far is at head office."""
    last_seq = query(state_file, "SELECT last_seq FROM outbox_seq")[0][0]
    return bool(headoffice.site()["last_seq"] >= last_seq)


def test_restore_after_corruption_keeps_recording_and_delivery_whole(
    tmp_path: Path, start_headoffice: Callable[..., HeadOffice], nvrctl: list[str]
) -> None:
    headoffice = start_headoffice()
    state_file = tmp_path / "state" / "state.db"
    recordings = tmp_path / "recordings"
    with CameraSimulator(
        tmp_path / "camsim", ["cam01"], width=SIM_WIDTH, height=SIM_HEIGHT, bitrate=SIM_BITRATE
    ) as sim:
        config = nvr_config(tmp_path, sim.camera_url("cam01"), headoffice.reports_url)
        daemons = start_all(config, state_file)
        try:
            # nvr-hddmon takes its first backup at start (none is kept yet).
            backup = wait_until(
                lambda: list_backups(recordings / BACKUP_DIR_NAME), 60, "nvr-hddmon's backup"
            )[0]
            assert integrity_problem(backup.path) is None
            in_backup = segment_paths(backup.path)
            held = {row[0] for row in query(backup.path, "SELECT report_id FROM outbox")}
            # Life goes on after the backup: more segments, more reports delivered.
            wait_until(
                lambda: len(segment_paths(state_file) - in_backup) >= 3, 60, "newer segments"
            )
            assert run(nvrctl, "report", "now", "--config", str(config)).returncode == 0
            wait_until(lambda: delivered(headoffice, state_file), 60, "reports delivered")
        finally:
            stop_all(daemons)
        before = segment_paths(state_file)
        seq_before = headoffice.site()["last_seq"]

        # The state file is corrupted (a bad sector, a bug): its header is garbage.
        with state_file.open("r+b") as handle:
            handle.write(b"\xde\xad\xbe\xef" * 1024)
        assert integrity_problem(state_file) is not None

        restored = run(nvrctl, "state", "restore", "--config", str(config))
        assert restored.returncode == 0, restored.stderr
        assert f"from {backup.path}" in restored.stdout
        assert "skipped and announced" in restored.stdout  # the broken file's seq is unreadable
        assert integrity_problem(state_file) is None
        after_restore = segment_paths(state_file)
        assert in_backup <= after_restore, "a segment the backup held was lost"
        assert before <= after_restore, "a segment recorded since the backup was not indexed"
        assert files_on_disk(recordings) <= after_restore
        assert list(tmp_path.glob("state/state.db.broken-*")), "the broken file is kept"

        daemons = start_all(config, state_file)
        try:
            wait_until(
                lambda: len(segment_paths(state_file) - after_restore) >= 2,
                60,
                "recording carries on after the restore",
            )
            assert run(nvrctl, "report", "now", "--config", str(config)).returncode == 0
            wait_until(lambda: delivered(headoffice, state_file), 60, "delivery carries on")
            crashes = query(state_file, "SELECT count(*) FROM events WHERE kind='daemon_crashed'")
            assert crashes == [(0,)], "a restart after a restore is no crash"
        finally:
            stop_all(daemons)

    site = headoffice.site()
    reports = headoffice.reports(query="?limit=1000")
    ids = [r["id"] for r in reports]
    seqs = [r["seq"] for r in reports]
    assert len(ids) == len(set(ids)) == site["reports"], "a report stored twice"
    assert len(seqs) == len(set(seqs)) and site["seq_reused"] == 0, "a seq reused"
    # The only gap is the announced jump past the seqs the broken file may have used.
    assert site["missing"] == site["announced_dropped"], site
    assert held <= set(ids), "a report the backup held never arrived"
    # The announcement of the jump is one alarm. (nvr-report may also tell the restore's
    # local event: its cursor is the backup's, so events since the backup are told again.)
    restored_alarms = [
        r for r in reports if r["kind"] == "alarm" and r["body"].get("event") == "state_restored"
    ]
    assert len(restored_alarms) == 1 and restored_alarms[0]["body"]["skipped_seqs"]
    assert restored_alarms[0]["seq"] > seq_before
