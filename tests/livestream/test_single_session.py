"""A camera that serves one RTSP session: recorded, validated and watchable at once.

Real daemons: nvr-backup holds the camera's one session and, through ffmpeg's tee muxer,
also publishes the stream to the appliance's mediamtx; nvr-livestream configures that
path as a publisher path; nvr-validator checks the recording. A dead mediamtx never stops
recording, and live view comes back with it.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from nvr.core.passwords import hash_password
from nvr_camsim import CameraSimulator
from nvrtest import Child, query_state, wait_until

from .conftest import BITRATE, HEIGHT, WIDTH
from .harness import ALICE, ALICE_PW, Livestream, ffprobe, video_codecs

pytestmark = pytest.mark.timeout(300)
RECORDER, RECORDER_PW = "recorder", "rec@pub #9/?%"  # URL-special characters on purpose


@pytest.fixture(scope="module")
def single(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CameraSimulator]:
    """cam01 serves one session at a time, as many cheap cameras do."""
    run_dir = tmp_path_factory.mktemp("camsim-single")
    with CameraSimulator(
        run_dir, 1, width=WIDTH, height=HEIGHT, bitrate=BITRATE, sessions={"cam01": 1}
    ) as simulator:
        yield simulator


def count(state_file: Path, sql: str, *params: Any) -> int:
    rows = query_state(state_file, sql, *params)
    return int(rows[0][0] or 0) if rows else 0


def segments_since(state_file: Path, since_s: float) -> int:
    return count(
        state_file,
        "SELECT count(*) FROM segments WHERE camera = 'cam01' AND start_ms > ?",
        int(since_s * 1000),
    )


def watchable(live: Livestream) -> bool:
    return video_codecs(ffprobe(live.rtsp_url("cam01", ALICE, ALICE_PW), timeout=20)) == ["h264"]


def share_the_session(live: Livestream) -> None:
    """The harness's config plus what a single-session camera needs."""
    config = yaml.safe_load(live.config_path.read_text())
    config["cameras"][0]["sessions"] = 1
    password_file = live.root / "publisher.pw"
    password_file.write_text(RECORDER_PW + "\n")
    config["livestream"]["publisher"] = RECORDER
    config["livestream"]["publisher_password_file"] = str(password_file)
    config["recording"] = {"segment_seconds": 4}
    config["validation"] = {"interval_seconds": 10, "workers": 1}
    live.config_path.write_text(yaml.safe_dump(config))


def test_single_session_camera_is_recorded_validated_and_watchable(
    single: CameraSimulator, tmp_path: Path, viewers: list[dict[str, Any]]
) -> None:
    accounts = [
        *viewers,
        {"user": RECORDER, "password_hash": hash_password(RECORDER_PW), "cameras": ["cam01"]},
    ]
    live = Livestream(tmp_path / "ls", single, accounts)
    live.write_config(["cam01"])
    share_the_session(live)
    backup, validator = Child(tmp_path, "backup"), Child(tmp_path, "validator")
    config = ["--config", str(live.config_path)]
    state_file = live.state_file
    try:
        live.start()
        live.wait_paths({"cam01"})
        backup.spawn([sys.executable, "-m", "nvr.backup.main", *config])
        wait_until(lambda: segments_since(state_file, 0), 60, "cam01 recorded")
        wait_until(lambda: watchable(live), 60, "cam01 watchable through mediamtx")
        # The camera really serves one session, and it is the recorder's.
        direct = ffprobe(single.camera_url("cam01"), timeout=20)
        assert direct.returncode != 0 and "400 Bad Request" in direct.stderr

        validator.spawn([sys.executable, "-m", "nvr.validator.main", *config])
        checked = (
            "SELECT count(*) FROM validations WHERE camera = 'cam01' AND check_name = 'frozen'"
            " AND status = 'ok'"
        )
        wait_until(lambda: count(state_file, checked), 90, "cam01 validated from its recording")

        # mediamtx dies: recording goes on; it returns: so does live view.
        live.proxy.kill()
        down = time.time()
        wait_until(lambda: segments_since(state_file, down), 60, "recording with mediamtx down")
        live.proxy.start()
        wait_until(lambda: watchable(live), 60, "live view back with mediamtx")
    finally:
        for child in (validator, backup):
            if child.proc is not None:
                child.stop()
        live.close()
    failed = "SELECT count(*) FROM validations WHERE camera = 'cam01' AND status = 'fail'"
    assert count(state_file, failed) == 0
    runs = "SELECT count(*) FROM recording_runs WHERE camera = 'cam01'"
    assert count(state_file, runs) == 1, "one ffmpeg run throughout: never restarted"
    for child in (backup, validator, live):
        text = child.log()
        assert single.password("cam01") not in text
        assert RECORDER_PW not in text and "rec%40pub" not in text
