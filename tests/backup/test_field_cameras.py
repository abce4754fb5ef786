"""Cameras as they are in the field: odd passwords, UDP-only cameras (issue 17).

A password with `@ : / # ?` and a space, in the URL (percent-encoded) or in a
`password_file` (as it is), must reach the camera intact through every path (ffmpeg, our
RTSP probe, a mediamtx pulling the camera for live view) and never reach a log.

mediamtx 1.20 as a server cannot take a `:` in a password (Basic: it splits the decoded
credentials at every colon; its own users: "credential contains unsupported characters"),
so the simulator's passwords have every other odd character, and the `:` is tested in
tests/core/test_rtsp_hostile.py against a camera server of our own (ffmpeg and the probe).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
import yaml

from nvr.core.config import load_config
from nvr.core.rtsp import ProbeResult, probe
from nvr_camsim import CameraSimulator
from nvrtest import Child, query_state, relay_camera, wait_until

from .harness import Backup

pytestmark = pytest.mark.timeout(240)

# Every character that used to break the URL, plus a literal "%41" that must stay literal.
ODD_PASSWORDS = {"odd01": "p@ss w/#?rd", "odd02": "b@c/d#e?f g%41"}
TRANSPORT_HINT = "set rtsp_transport: auto"


@pytest.fixture(scope="module")
def odd_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CameraSimulator]:
    run_dir = tmp_path_factory.mktemp("oddsim")
    with CameraSimulator(
        run_dir, list(ODD_PASSWORDS), width=320, height=240, bitrate=300_000,
        passwords=ODD_PASSWORDS,
    ) as sim:  # fmt: skip
        yield sim


@pytest.fixture(scope="module")
def udp_camera(odd_sim: CameraSimulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A UDP-only camera: answers 461 Unsupported Transport to a TCP request."""
    with relay_camera(tmp_path_factory.mktemp("udp"), odd_sim.camera_url("odd01"), "udp") as url:
        yield url


def _assert_no_password(text: str) -> None:
    for password in ODD_PASSWORDS.values():
        assert password not in text, "a camera password reached the log"
        assert quote(password, safe="") not in text, "an encoded password reached the log"


def test_passwords_with_any_character_record_and_probe(
    odd_sim: CameraSimulator, udp_camera: str, tmp_path: Path
) -> None:
    secret = tmp_path / "odd02.password"
    secret.write_text(ODD_PASSWORDS["odd02"] + "\n")
    cameras = list(ODD_PASSWORDS)
    backup = Backup(tmp_path / "b", odd_sim, cameras, segment_seconds=4)
    # odd01: percent-encoded in the URL; odd02: as it is in a file. The udp_camera fixture
    # is the live-view path: a mediamtx pulls odd01 with its encoded URL.
    backup.urls["odd02"] = odd_sim.camera_url("odd02").replace(
        quote(ODD_PASSWORDS["odd02"], safe=""), "placeholder"
    )
    backup.camera_keys["odd02"] = {"password_file": str(secret)}
    backup.write_config(cameras)
    backup.start()
    try:
        wait_until(lambda: all(backup.segments(c) for c in cameras), 90, "segments of all")
        # The liveness probe (and the validator's) decode what the URL holds encoded.
        config = load_config(backup.config_path)
        for camera in config.cameras:
            answer = probe(camera.url)
            assert answer.result is ProbeResult.OK, (camera.id, answer)
    finally:
        backup.stop()
    _assert_no_password(backup.log())


def test_udp_only_camera_recorded_with_auto_and_remembered(
    odd_sim: CameraSimulator, udp_camera: str, tmp_path: Path
) -> None:
    backup = Backup(tmp_path / "b", odd_sim, [], segment_seconds=4)
    backup.urls["udpcam"] = udp_camera
    backup.write_config(["udpcam"])
    backup.start()
    try:
        wait_until(lambda: backup.segments("udpcam"), 90, "segments over UDP")
        # Remembered on the main loop's next tick, which may come after the first row.
        learned = "SELECT rtsp_transport FROM camera_media WHERE camera = 'udpcam'"
        wait_until(lambda: backup.query(learned) == [("udp",)], 30, "UDP remembered")
        assert "refuses RTSP over tcp (461 Unsupported Transport); trying udp" in backup.log()
    finally:
        backup.stop()
    # A restart goes straight to UDP: no second refusal in its log.
    backup.start()
    try:
        wait_until(lambda: backup.camera_state("udpcam").get("state") == "recording", 60, "again")
        assert "trying udp" not in backup.logs[-1].read_text()
    finally:
        backup.stop()


def test_tcp_forced_on_a_udp_only_camera_says_what_to_change(
    odd_sim: CameraSimulator, udp_camera: str, tmp_path: Path
) -> None:
    backup = Backup(tmp_path / "b", odd_sim, [], rtsp_transport="tcp")
    backup.urls["udpcam"] = udp_camera
    backup.write_config(["udpcam"])
    backup.start()
    try:
        state = wait_until(
            lambda: backup.camera_state("udpcam").get("reason"), 60, "a failure reason"
        )
        assert TRANSPORT_HINT in state
        assert "ffmpeg error" not in state
    finally:
        backup.stop()


def test_the_validator_reaches_cameras_with_odd_passwords(
    odd_sim: CameraSimulator, tmp_path: Path
) -> None:
    # Not recorded here: the validator opens its own session (probe and ffprobe).
    state_file = tmp_path / "state" / "state.db"
    state_file.parent.mkdir()
    config = tmp_path / "nvr.yaml"
    cameras = [{"id": c, "url": odd_sim.camera_url(c)} for c in ODD_PASSWORDS]
    config.write_text(
        yaml.safe_dump(
            {
                "site": {"id": "test-01"},
                "storage": {"recordings_dir": str(tmp_path), "state_file": str(state_file)},
                "validation": {"interval_seconds": 10, "workers": 2},
                "cameras": cameras,
            }
        )
    )
    validator = Child(tmp_path, "validator")
    validator.spawn([sys.executable, "-m", "nvr.validator.main", "--config", str(config)])
    try:
        checked = wait_until(
            lambda: _reachable(state_file) if len(_reachable(state_file)) == 2 else None,
            90,
            "a reachability verdict for both cameras",
        )
        assert checked == {("odd01", "ok"), ("odd02", "ok")}
        assert validator.stop() == 0
    finally:
        if validator.proc is not None:
            validator.kill()
    _assert_no_password(validator.log())


def _reachable(state_file: Path) -> set[tuple[str, str]]:
    rows = query_state(
        state_file, "SELECT camera, status FROM validations WHERE check_name = 'reachable'"
    )
    return {(row[0], row[1]) for row in rows}
