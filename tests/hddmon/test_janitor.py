"""The janitor on a real ext4 filesystem: watermarks, headroom, protections, retention, crashes."""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from nvr.core.state import now_ms
from nvr.hddmon.protect import add_protection, release_protection
from nvrtest.recordings import (
    DAY_MS,
    HOUR_MS,
    SEGMENT_MS,
    add_segment,
    events,
    fill,
    indexed,
    make_daemon,
    make_env,
    segment_path,
    settle,
    write_file,
)

pytestmark = pytest.mark.timeout(60)

WATERMARKS = {"high_watermark_percent": 90, "low_watermark_percent": 80}


def test_watermark_deletes_oldest_across_cameras_down_to_the_low_watermark(
    tmp_path: Path, recordings: Path, caplog: pytest.LogCaptureFixture
) -> None:
    env = make_env(tmp_path, recordings, disk=WATERMARKS)
    first = now_ms() - 3 * HOUR_MS
    paths = fill(env, 93.0, first)
    daemon = make_daemon(env)
    caplog.set_level(logging.INFO)

    settle(daemon)

    assert env.percent() <= 80.0
    left = indexed(env.store)
    deleted = [p for p in paths if p not in left]
    kept = [p for p in paths if p in left]
    assert deleted and kept
    # Oldest first across both cameras: every deleted segment is older than every kept one
    # (the paths were written in time order, alternating cameras).
    assert paths[: len(deleted)] == deleted
    assert {p.split("/")[0] for p in deleted} == {"cam01", "cam02"}
    assert all(not (recordings / p).exists() for p in deleted)
    assert all((recordings / p).exists() for p in kept)
    assert env.store.read().execute("SELECT COUNT(*) FROM garbage").fetchone()[0] == 0

    # One log line per deletion, with camera and bytes; one summary event for the batch.
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("deleted camera=")]
    assert len(lines) == len(deleted)
    assert f"path={deleted[0]} bytes={512 * 1024} reason=watermark" in lines[0]
    summary = events(env.store, "disk_segments_deleted")
    assert len(summary) == 1
    assert summary[0]["message"].startswith(f"deleted {len(deleted)} segments")
    # Both threshold crossings were recorded.
    assert (
        "reached the high watermark 90%" in events(env.store, "disk_high_watermark")[0]["message"]
    )
    assert events(env.store, "disk_low_watermark")[0]["severity"] == "info"
    assert daemon.status_line().startswith("disk 8")
    assert f"deleted {len(deleted)} segments today" in daemon.status_line()
    # A restart does not forget today's count.
    restarted = make_daemon(env)
    restarted.start()
    assert f"deleted {len(deleted)} segments today" in restarted.status_line()


def test_janitor_starts_before_the_high_watermark_when_writing_would_cross_it(
    tmp_path: Path, recordings: Path
) -> None:
    """Usage never overshoots the watermark by a check interval's worth of video."""
    env = make_env(tmp_path, recordings, disk={**WATERMARKS, "check_interval_seconds": 60})
    now = now_ms()
    # Twenty minutes of video written in the last ten: 17 kB/s, 2 MB per two checks.
    for minute in range(10):
        for camera in ("cam01", "cam02"):
            add_segment(env.store, recordings, camera, now - (10 - minute) * SEGMENT_MS)
    fill(env, 87.0, now - 5 * HOUR_MS)
    assert 87.0 <= env.percent() < 90.0
    daemon = make_daemon(env)

    settle(daemon)

    assert env.percent() <= 80.0
    message = events(env.store, "disk_high_watermark")[0]["message"]
    assert "is about to reach the high watermark 90%" in message


def test_disk_growing_fast_starts_the_janitor_early_without_any_closed_segment(
    tmp_path: Path, recordings: Path
) -> None:
    """Open segments (or cameras just back) fill the disk before the index shows a rate."""
    env = make_env(tmp_path, recordings, disk={**WATERMARKS, "check_interval_seconds": 5})
    fill(env, 84.0, now_ms() - 5 * HOUR_MS)  # nothing written in the last hour
    harness = make_daemon(env)
    settle(harness)
    assert harness.daemon.rate_bytes_per_s == 0.0
    assert not events(env.store, "disk_high_watermark")
    # 3 % of the disk in 6 s, not indexed yet: ~5 % more before the check after next.
    usable = harness.daemon.usage.usable if harness.daemon.usage else 0
    write_file(recordings, segment_path("cam01", now_ms()), int(usable * 0.03))
    assert env.percent() < 90.0
    harness.clock.now += 6
    harness.daemon.tick()

    assert harness.daemon.growth_bytes_per_s > 0
    assert (
        "is about to reach the high watermark 90%"
        in events(env.store, "disk_high_watermark")[0]["message"]
    )
    assert env.percent() <= 80.0


def test_headroom_frees_enough_for_hours_of_recording_below_the_watermark(
    tmp_path: Path, recordings: Path
) -> None:
    env = make_env(tmp_path, recordings, disk={"headroom_hours": 0.75})
    now = now_ms()
    old = fill(env, 60.0, now - 5 * HOUR_MS)
    # Ten minutes of recent recording: the measured rate is 10 x 512 KiB per 600 s.
    for minute in range(10):
        add_segment(env.store, recordings, "cam01", now - (10 - minute) * SEGMENT_MS)
    rate = 10 * 512 * 1024 / 600
    daemon = make_daemon(env)

    settle(daemon)

    assert daemon.usage is not None
    assert daemon.usage.free >= rate * 0.75 * 3600
    assert env.percent() < 90.0, "the watermark was never the reason"
    assert events(env.store, "disk_segments_deleted")[0]["message"].find("for headroom") > 0
    left = indexed(env.store)
    assert any(p not in left for p in old)
    assert "h headroom" in daemon.status_line()


def test_protected_range_survives_the_watermark(tmp_path: Path, recordings: Path) -> None:
    env = make_env(tmp_path, recordings, disk=WATERMARKS)
    first = now_ms() - 3 * HOUR_MS
    paths = fill(env, 93.0, first)
    # Evidence: the first 20 minutes of cam01, which are the oldest video on the disk.
    add_protection(
        env.store,
        camera="cam01",
        from_ms=first,
        to_ms=first + 20 * SEGMENT_MS - 1,
        reason="incident 4711",
        known_cameras={"cam01", "cam02"},
    )
    protected = [p for p in paths[:40] if p.startswith("cam01/")]

    settle(make_daemon(env))

    assert env.percent() <= 80.0
    assert all((recordings / p).exists() for p in protected)
    assert all(indexed(env.store)[p] == "ok" for p in protected)
    # cam02's video of the same time was not protected and, being oldest, went first.
    assert not (recordings / paths[1]).exists()


def test_only_protected_video_left_raises_one_critical_event_and_keeps_it(
    tmp_path: Path, recordings: Path
) -> None:
    env = make_env(tmp_path, recordings, disk=WATERMARKS)
    paths = fill(env, 93.0, now_ms() - 3 * HOUR_MS)
    ids = [
        add_protection(
            env.store,
            camera=camera,
            from_ms=0,
            to_ms=now_ms() + DAY_MS,
            reason="court order",
            known_cameras={"cam01", "cam02"},
        ).id
        for camera in ("cam01", "cam02")
    ]
    daemon = make_daemon(env)
    settle(daemon)
    settle(daemon, start=False)  # a second check must not repeat the event

    assert all((recordings / p).exists() for p in paths)
    critical = events(env.store, "disk_only_protected_left")
    assert len(critical) == 1
    assert critical[0]["severity"] == "critical"
    assert f"{len(paths)} protected segments kept" in critical[0]["message"]
    assert "only protected video left" in daemon.status_line()
    assert daemon.lifecycle == "degraded"

    # Releasing the evidence lets the janitor do its job again, and says so.
    for protection_id in ids:
        release_protection(env.store, protection_id)
    settle(daemon, start=False)
    assert env.percent() <= 80.0
    assert len(events(env.store, "disk_space_recovered")) == 1
    assert "only protected" not in daemon.status_line()
    assert daemon.lifecycle == "running"


def test_retention_days_per_camera_and_global(tmp_path: Path, recordings: Path) -> None:
    cameras = [
        {"id": "cam01", "url": "rtsp://127.0.0.1/cam01", "retention_days": 1},
        {"id": "cam02", "url": "rtsp://127.0.0.1/cam02"},
    ]
    env = make_env(tmp_path, recordings, cameras=cameras, disk={"retention_days": 3})
    now = 1_795_300_000_000  # a fixed clock: 2026-11-21
    ages_h = (100, 50, 30, 12)
    paths = {
        (camera, age): add_segment(env.store, recordings, camera, now - age * HOUR_MS, 64 * 1024)
        for camera in ("cam01", "cam02", "cam09")  # cam09 was removed from the config
        for age in ages_h
    }

    settle(make_daemon(env, clock_ms=lambda: now))

    left = indexed(env.store)
    expected_kept = {
        ("cam01", 12),
        ("cam02", 50),
        ("cam02", 30),
        ("cam02", 12),
        ("cam09", 50),
        ("cam09", 30),
        ("cam09", 12),
    }
    for key, path in paths.items():
        assert (path in left) == (key in expected_kept), key
        assert (recordings / path).exists() == (key in expected_kept), key
    summary = events(env.store, "disk_segments_deleted")[0]
    assert "for retention" in summary["message"]
    assert "cam01 3" in summary["message"] and "cam09 1" in summary["message"]


CRASHING_JANITOR = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from nvr.core.state import StateStore
    from nvr.hddmon import files
    from nvr.hddmon.index import oldest_segments, START_CURSOR, move_to_garbage

    store = StateStore.open(sys.argv[1])
    root = Path(sys.argv[2])
    batch = oldest_segments(store.read(), START_CURSOR, 4)
    moved, _ = move_to_garbage(store, batch, "watermark", 0)
    files.unlink(root, moved[0].path)
    files.unlink(root, moved[1].path)
    # Killed after two unlinks, before the garbage rows are dropped.
    os.kill(os.getpid(), signal.SIGKILL)
    """
)


def test_a_crash_between_unlink_and_row_delete_is_repaired_at_start(
    tmp_path: Path, recordings: Path
) -> None:
    env = make_env(tmp_path, recordings)
    start = now_ms() - HOUR_MS
    paths = [add_segment(env.store, recordings, "cam01", start + i * SEGMENT_MS) for i in range(6)]
    crashed = subprocess.run(
        [
            sys.executable,
            "-c",
            CRASHING_JANITOR,
            str(env.config.storage.state_file),
            str(recordings),
        ],
        check=False,
    )
    assert crashed.returncode == -signal.SIGKILL
    garbage = env.store.read().execute("SELECT path FROM garbage ORDER BY id").fetchall()
    assert [row[0] for row in garbage] == paths[:4]
    assert (recordings / paths[2]).exists(), "queued but not yet unlinked when it died"

    settle(make_daemon(env))

    assert env.store.read().execute("SELECT COUNT(*) FROM garbage").fetchone()[0] == 0
    assert all(not (recordings / p).exists() for p in paths[:4])
    assert sorted(indexed(env.store)) == paths[4:]
    assert all((recordings / p).exists() for p in paths[4:])
    leftover = events(env.store, "disk_segments_deleted")
    assert leftover[0]["message"].startswith("deleted 4 segments")
    assert "for leftover" in leftover[0]["message"]
