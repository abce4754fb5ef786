"""Reconcile: rows without files, files without rows, and a disk that is not there."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from nvr.core.state import now_ms
from nvrtest.recordings import (
    HOUR_MS,
    SEGMENT_MS,
    add_segment,
    events,
    indexed,
    make_daemon,
    make_env,
    segment_path,
    settle,
    write_file,
)

pytestmark = pytest.mark.timeout(60)


def test_rows_and_files_are_reconciled(tmp_path: Path, recordings: Path) -> None:
    env = make_env(tmp_path, recordings)
    now = now_ms()
    kept = [
        add_segment(env.store, recordings, "cam01", now - HOUR_MS + i * SEGMENT_MS)
        for i in range(5)
    ]
    # A row whose file was lost (deleted by hand, or the disk lost it).
    lost = add_segment(env.store, recordings, "cam02", now - HOUR_MS)
    (recordings / lost).unlink()
    # An old orphan: a file whose row never got committed, a day ago.
    old_orphan = segment_path("cam02", now - 24 * HOUR_MS)
    write_file(recordings, old_orphan, 100_000)
    day_ago = (now - 24 * HOUR_MS) / 1000
    os.utime(recordings / old_orphan, (day_ago, day_ago))
    # A young orphan: the segment nvr-backup is writing right now, not indexed yet.
    young_orphan = segment_path("cam01", now)
    write_file(recordings, young_orphan, 50_000)
    # Something that is not a segment at all.
    write_file(recordings, "cam01/notes.txt", 10)

    settle(make_daemon(env))

    rows = indexed(env.store)
    assert rows[lost] == "missing"
    assert all(rows[p] == "ok" for p in kept)
    assert not (recordings / old_orphan).exists()
    assert (recordings / young_orphan).exists()
    assert (recordings / "cam01" / "notes.txt").exists()
    assert env.store.read().execute("SELECT COUNT(*) FROM garbage").fetchone()[0] == 0
    report = events(env.store, "disk_reconcile")
    assert len(report) == 1
    assert report[0]["message"].startswith(
        "reconcile: 1 rows without file marked missing, 0 restored, 1 orphan files deleted, "
        "1 orphans younger than the grace period kept, 1 unknown files left alone"
    )

    # The file comes back (a disk re-attached): the row is trusted again.
    write_file(recordings, lost, 1000)
    daemon = make_daemon(env)
    settle(daemon)
    assert indexed(env.store)[lost] == "ok"


def test_segments_being_written_are_no_warning_after_a_restart(
    tmp_path: Path, recordings: Path, caplog: pytest.LogCaptureFixture
) -> None:
    env = make_env(tmp_path, recordings)
    for camera in ("cam01", "cam02", "cam03"):  # each camera's open segment
        write_file(recordings, segment_path(camera, now_ms()), 50_000)
    with caplog.at_level(logging.DEBUG, logger="nvr.hddmon"):
        settle(make_daemon(env))
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert not [m for m in warnings if "without row" in m], warnings
    assert sum("without row, recent" in r.getMessage() for r in caplog.records) == 3


def test_an_unmounted_disk_pauses_the_janitor_and_marks_nothing_missing(
    tmp_path: Path, recordings: Path
) -> None:
    # recordings_dir is a plain folder on the root filesystem: the disk "is not mounted".
    folder = tmp_path / "recordings"
    folder.mkdir()
    env = make_env(
        tmp_path,
        folder,
        storage={
            "recordings_dir": str(folder),
            "state_file": str(tmp_path / "state" / "state.db"),
            "require_mount": True,
        },
        disk={"high_watermark_percent": 1, "low_watermark_percent": 0.5},
    )
    paths = [
        add_segment(env.store, folder, "cam01", now_ms() - i * SEGMENT_MS, file=False)
        for i in range(3)
    ]
    daemon = make_daemon(env)

    settle(daemon)
    settle(daemon, start=False)

    assert all(status == "ok" for status in indexed(env.store).values())
    assert sorted(indexed(env.store)) == sorted(paths)
    critical = events(env.store, "disk_not_mounted")
    assert len(critical) == 1
    assert f"recordings disk not mounted at {folder}" in critical[0]["message"]
    assert "not mounted" in daemon.status_line()
    assert daemon.lifecycle == "degraded"
