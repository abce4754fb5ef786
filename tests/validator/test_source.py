"""Where a check reads the picture, from the rows nvr-backup writes (a real state file)."""

from __future__ import annotations

from pathlib import Path

import pytest

from nvr.core.camera_media import remember_transport
from nvr.core.config import Config, parse_config
from nvr.core.state import StateStore, now_ms
from nvr.validator.media import grab_command, probe_command
from nvr.validator.source import SourceKind, pick_source

URL = "rtsp://admin:pw-7q@10.0.0.9/cam01"


@pytest.fixture
def config(tmp_path: Path) -> Config:
    (tmp_path / "state").mkdir()
    return parse_config(
        {
            "site": {"id": "test-01"},
            "storage": {
                "recordings_dir": str(tmp_path / "rec"),
                "state_file": str(tmp_path / "state" / "state.db"),
            },
            "recording": {"segment_seconds": 60},
            "cameras": [{"id": "cam01", "url": URL}],
        },
        tmp_path / "nvr.yaml",
    )


def run(store: StateStore, started_ms: int, ended_ms: int | None = None) -> None:
    with store.write() as conn:
        conn.execute(
            "INSERT INTO recording_runs (camera, started_at_ms, ended_at_ms) VALUES (?, ?, ?)",
            ("cam01", started_ms, ended_ms),
        )


def segment(store: StateStore, start_ms: int, end_ms: int) -> str:
    path = f"cam01/2026-11-30/{start_ms}.mp4"
    with store.write() as conn:
        conn.execute(
            "INSERT INTO segments (camera, path, start_ms, end_ms, bytes, created_at_ms)"
            " VALUES ('cam01', ?, ?, ?, 1000, ?)",
            (path, start_ms, end_ms, end_ms),
        )
    return path


def test_a_camera_being_recorded_is_read_from_its_current_runs_last_segment(
    config: Config,
) -> None:
    camera = config.cameras[0]
    now = now_ms()
    with StateStore.open(config.storage.state_file) as store:
        # Not recorded: the camera itself, with the configured transport.
        source = pick_source(store.read(), config, camera, now)
        assert (source.kind, source.transport) == (SourceKind.CAMERA, "tcp")
        # nvr-backup learned that the camera speaks UDP: the validator follows it.
        remember_transport(store, "cam01", "udp")
        assert pick_source(store.read(), config, camera, now).transport == "udp"
        # A run, its black segment, then paused (run ended): the camera is read live, or
        # the old segment would keep it paused.
        run(store, now - 300_000, now - 100_000)
        old = segment(store, now - 200_000, now - 110_000)
        assert pick_source(store.read(), config, camera, now).kind is SourceKind.CAMERA
        # Recording again, no segment closed yet: wait for it rather than open a session.
        run(store, now - 20_000)
        assert pick_source(store.read(), config, camera, now).kind is SourceKind.WAIT
        new = segment(store, now - 15_000, now - 5_000)
        source = pick_source(store.read(), config, camera, now)
    assert source.kind is SourceKind.RECORDING
    assert source.path == config.storage.recordings_dir / new != config.storage.recordings_dir / old


def test_the_tools_use_the_given_transport_and_none_other() -> None:
    probe = probe_command("ffprobe", URL, "udp")
    assert probe[probe.index("-rtsp_transport") + 1] == "udp"
    grab = grab_command("ffmpeg", URL, (320, 180), 4, True, transport="udp")
    assert grab[grab.index("-rtsp_transport") + 1] == "udp"
    assert "tcp" not in grab and "tcp" not in probe
