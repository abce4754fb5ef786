"""The rules nvr-backup decides by: naming across midnight, failure reasons, coverage gaps."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

from nvr.backup.clockstep import ClockWatch
from nvr.backup.failure import audio_refused, classify_exit, transport_refused
from nvr.backup.paths import SEGMENT_NAME, STAGING_DIR, place_segment
from nvr.backup.reconcile import unindexed_files
from nvr.core.state import StateStore
from nvr.core.tables.recordings import EndReason, coverage


def test_a_closed_file_is_named_by_its_utc_start_and_never_replaces_a_file(
    tmp_path: Path,
) -> None:
    staging = tmp_path / "cam01" / STAGING_DIR
    staging.mkdir(parents=True)
    start_ms = int(datetime(2026, 11, 21, 23, 59, 0, 400_000, tzinfo=UTC).timestamp() * 1000)
    names = []
    for n in range(3):  # the clock stepped back twice: three files claim the same second
        (staging / f"0a1b2c3d-{n:06d}.mp4").write_bytes(b"video %d" % n)
        names.append(place_segment(tmp_path, f"cam01/{STAGING_DIR}/0a1b2c3d-{n:06d}.mp4", start_ms))
    assert names == [
        "cam01/2026-11-21/23-59-00.mp4",
        "cam01/2026-11-21/23-59-00~2.mp4",
        "cam01/2026-11-21/23-59-00~3.mp4",
    ]
    assert [(tmp_path / n).read_bytes() for n in names] == [b"video 0", b"video 1", b"video 2"]
    assert list(staging.iterdir()) == []
    later = "cam01/2026-11-21/23-59-01.mp4"
    assert sorted([*names, later]) == [*names, later], "names of a day sort by time"
    assert all(SEGMENT_NAME.match(Path(n).name) for n in [*names, later])


def test_start_up_finds_staged_leftovers_and_drops_a_placed_file_s_second_name(
    tmp_path: Path,
) -> None:
    staging = tmp_path / "cam01" / STAGING_DIR
    staging.mkdir(parents=True)
    for n in range(3):
        (staging / f"0a1b2c3d-{n:06d}.mp4").write_bytes(b"video %d" % n)
    # A crash between link and unlink: the file has its dated name and its staged one.
    placed = place_segment(tmp_path, f"cam01/{STAGING_DIR}/0a1b2c3d-000000.mp4", 1_764_500_000_000)
    os.link(tmp_path / placed, staging / "0a1b2c3d-000000.mp4")
    with StateStore.open(tmp_path / "state.db") as store:
        found = unindexed_files(store, tmp_path, "cam01")
        assert [s.path for s in found] == [
            placed,
            f"cam01/{STAGING_DIR}/0a1b2c3d-000001.mp4",
            f"cam01/{STAGING_DIR}/0a1b2c3d-000002.mp4",
        ]
        assert all(s.duration_ms is None for s in found), "durations are measured"
        assert not (staging / "0a1b2c3d-000000.mp4").exists()
        assert (tmp_path / placed).read_bytes() == b"video 0"
        # After one ffmpeg run died: only that run's unreported files.
        (staging / "ffff0000-000000.mp4").write_bytes(b"other run")
        partial = unindexed_files(store, tmp_path, "cam01", "0a1b2c3d", {"0a1b2c3d-000001.mp4"})
        assert [s.path for s in partial] == [f"cam01/{STAGING_DIR}/0a1b2c3d-000002.mp4"]


class FakeClocks:
    """A wall clock and a monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.wall, self.mono = 1_764_500_000_000, 5_000

    def advance(self, ms: int, wall_extra: int = 0) -> None:
        self.mono += ms
        self.wall += ms + wall_extra


def test_clock_steps_are_reported_once_and_slewing_is_not() -> None:
    clocks = FakeClocks()
    watch = ClockWatch(wall_ms=lambda: clocks.wall, monotonic_ms=lambda: clocks.mono)
    for _ in range(100):  # NTP slewing: 0.5 ms per second of drift, for 100 s
        clocks.advance(1_000, wall_extra=1)
        assert watch.check() is None
    before = clocks.wall
    clocks.advance(500, wall_extra=-3_600_000)
    step = watch.check()
    assert step is not None and step.step_ms == -3_600_000
    assert step.expected_ms == before + 500 and step.now_ms == before + 500 - 3_600_000
    assert "stepped back 3600.0 s" in step.describe()
    clocks.advance(500)
    assert watch.check() is None, "a step is reported once"
    clocks.advance(500, wall_extra=3_600_000)
    forward = watch.check()
    assert forward is not None and forward.step_ms == 3_600_000


def test_failure_reasons_from_ffmpeg_output() -> None:
    auth = ["[rtsp @ 0x5] method DESCRIBE failed: 401 Unauthorized"]
    assert classify_exit(auth, was_recording=False) is EndReason.AUTH_FAILED
    missing = ["rtsp://a:***@h/cam: Server returned 404 Not Found"]
    assert classify_exit(missing, was_recording=False) is EndReason.NOT_FOUND
    # A path that was streaming and now answers 404 (behind a proxy) is a camera gone.
    assert classify_exit(missing, was_recording=True) is EndReason.CAMERA_OFFLINE
    refused = ["rtsp://h/cam: Connection refused"]
    assert classify_exit(refused, was_recording=False) is EndReason.CAMERA_OFFLINE
    full = ["av_interleaved_write_frame(): No space left on device"]
    assert classify_exit(full, was_recording=True) is EndReason.DISK_FULL
    assert classify_exit([], was_recording=False) is EndReason.FFMPEG_ERROR


def test_g711_refused_by_mp4_is_recognised_with_its_codec() -> None:
    line = "[mp4 @ 0x1] Could not find tag for codec pcm_mulaw in stream #1"
    assert audio_refused([line]) == "pcm_mulaw"
    assert audio_refused(["Connection refused"]) is None


def test_a_refused_transport_says_what_to_change() -> None:
    lines = ["[rtsp @ 0x5] method SETUP failed: 461 Unsupported Transport"]
    assert transport_refused(lines)
    reason = classify_exit(lines, was_recording=False)
    assert reason is EndReason.TRANSPORT_REFUSED and "rtsp_transport: auto" in reason


def _seed(store: StateStore) -> None:
    with store.write() as conn:
        for start in (0, 10_000, 20_000, 60_000, 70_000):
            conn.execute(
                "INSERT INTO segments (camera, path, start_ms, end_ms, bytes, status,"
                " created_at_ms) VALUES ('cam01', ?, ?, ?, 1000, 'ok', 0)",
                (f"cam01/x/{start}.mp4", start, start + 10_000),
            )
        conn.executemany(
            "INSERT INTO recording_runs (camera, started_at_ms, ended_at_ms, end_reason)"
            " VALUES ('cam01', ?, ?, ?)",
            [(0, 30_500, "camera offline"), (35_000, 36_000, "camera offline"),
             (59_000, 80_000, "shutdown")],
        )  # fmt: skip


def test_coverage_counts_minutes_and_names_each_gap(tmp_path: Path) -> None:
    with StateStore.open(tmp_path / "state.db") as store:
        _seed(store)
        result = coverage(store.read(), "cam01", 0, 100_000)
    assert result.recorded_ms == 50_000
    assert [(g.start_ms, g.end_ms, g.reason) for g in result.gaps] == [
        (30_000, 60_000, "camera offline"),
        (80_000, 100_000, "shutdown"),
    ]
    assert result.to_json()["percent"] == 50.0


def test_coverage_tail_while_recording_is_a_segment_in_progress(tmp_path: Path) -> None:
    with StateStore.open(tmp_path / "state.db") as store:
        with store.write() as conn:
            conn.execute(
                "INSERT INTO segments (camera, path, start_ms, end_ms, bytes, status,"
                " created_at_ms) VALUES ('cam01', 'cam01/x/a.mp4', 0, 60000, 1, 'ok', 0)"
            )
            conn.execute("INSERT INTO recording_runs (camera, started_at_ms) VALUES ('cam01', 0)")
        result = coverage(store.read(), "cam01", 0, 90_000)
    assert [g.reason for g in result.gaps] == ["segment in progress"]
