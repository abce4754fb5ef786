"""Audio never costs video: G.711 (which MP4 cannot hold) is transcoded or dropped."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from nvr.core.tools import require_tool
from nvr_camsim import CameraSimulator
from nvr_camsim.mediamtx import MediamtxServer
from nvrtest import wait_until

from .harness import Backup

MakeBackup = Callable[..., Backup]


@pytest.fixture(scope="module")
def g711_camera(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A camera sending H.264 video with G.711 µ-law audio, as many IP cameras do."""
    server = MediamtxServer(tmp_path_factory.mktemp("g711"))
    server.start()
    url = server.rtsp_url("g711")
    publisher = subprocess.Popen(
        [require_tool("ffmpeg"), "-hide_banner", "-loglevel", "error", "-re",
         "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25",
         "-f", "lavfi", "-i", "sine=frequency=800:sample_rate=8000",
         "-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-pix_fmt", "yuv420p",
         "-c:a", "pcm_mulaw", "-f", "rtsp", "-rtsp_transport", "tcp", url],
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_until(lambda: "g711" in server.available_paths(), 30, "G.711 camera publishing")
        yield url
    finally:
        publisher.terminate()
        publisher.wait(10)
        server.stop()


def streams(path: Path) -> list[str]:
    result = subprocess.run(
        [require_tool("ffprobe"), "-v", "error", "-show_entries", "stream=codec_name",
         "-of", "json", str(path)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return [s["codec_name"] for s in json.loads(result.stdout)["streams"]]


@pytest.mark.parametrize(
    ("policy", "expected"), [("transcode", ["h264", "aac"]), ("drop", ["h264"])]
)
def test_g711_audio_is_transcoded_or_dropped(
    backup_factory: MakeBackup,
    sim: CameraSimulator,
    g711_camera: str,
    policy: str,
    expected: list[str],
) -> None:
    backup = backup_factory([], segment_seconds=4, audio=policy)
    backup.urls = {"door": g711_camera}
    backup.write_config(["door"])
    backup.start()
    segments = wait_until(lambda: backup.segments("door")[1:], 60, "segments with video")
    backup.stop()
    assert streams(backup.recordings / segments[0][0]) == expected
    assert "audio codec pcm_mulaw not supported by the container" in backup.log()


def test_a_refused_audio_codec_is_remembered_across_restarts(
    backup_factory: MakeBackup, sim: CameraSimulator, g711_camera: str
) -> None:
    backup = backup_factory([], segment_seconds=4, audio="drop")
    backup.urls = {"door": g711_camera}
    backup.write_config(["door"])
    backup.start()
    wait_until(lambda: backup.segments("door"), 60, "segments with video")
    backup.stop()
    learned = backup.query("SELECT audio_refused_codec FROM camera_media WHERE camera = 'door'")
    assert learned == [("pcm_mulaw",)]
    runs_before = len(backup.query("SELECT id FROM recording_runs"))

    backup.start()
    wait_until(lambda: backup.camera_state("door").get("state") == "recording", 60, "recording")
    backup.stop()
    # No failed run spent on learning it again (it cost an empty file and ~5 s of video).
    runs = backup.query("SELECT end_reason FROM recording_runs ORDER BY id")[runs_before:]
    assert runs == [("shutdown",)]
    log = backup.logs[-1].read_text()
    assert "audio codec pcm_mulaw was refused by the container before" in log
    assert "not supported by the container" not in log
