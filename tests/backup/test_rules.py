"""The rules nvr-backup decides by: naming across midnight, failure reasons, coverage gaps."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from nvr.backup.failure import audio_refused, classify_exit, transport_refused
from nvr.backup.paths import segment_start, start_from_relative
from nvr.core.recordings import EndReason, coverage
from nvr.core.state import StateStore


def test_segment_named_before_midnight_and_closed_after_belongs_to_yesterday() -> None:
    closed = datetime(2026, 11, 22, 0, 0, 1, tzinfo=UTC)
    assert segment_start("23-59-00.mp4", closed) == datetime(2026, 11, 21, 23, 59, 0, tzinfo=UTC)
    assert segment_start("00-00-00.mp4", closed) == datetime(2026, 11, 22, 0, 0, 0, tzinfo=UTC)
    assert segment_start("notes.txt", closed) is None


def test_index_path_gives_back_the_utc_start() -> None:
    assert start_from_relative("cam01/2026-03-29/01-30-00.ts") == datetime(
        2026, 3, 29, 1, 30, tzinfo=UTC
    )
    assert start_from_relative("cam01/bad/01-30-00.mp4") is None


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
