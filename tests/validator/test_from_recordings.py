"""nvr-validator checks what nvr-backup recorded; recording never waits on the validator.

Real daemons, a simulated camera that accepts one session (as many cheap cameras do):
the recorder holds that session, the validator checks the last closed segment, and a
restart of nvr-backup while the validator's doubtful verdict stands records at once.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from nvr.core.config import parse_config
from nvr.core.state import StateStore
from nvr.core.tables.recordings import EndReason
from nvr.core.tools import require_tool
from nvr.validator.checker import BUSY
from nvr.validator.engine import Engine, default_tools, settings_of
from nvr.validator.results import Check, Status
from nvr.validator.source import Source, SourceKind
from nvr_camsim import CameraSimulator, Fault
from nvrtest import SIM_BITRATE, SIM_HEIGHT, SIM_WIDTH, Child, query_state, wait_until

pytestmark = pytest.mark.timeout(300)
INTERVAL = 10


@pytest.fixture(scope="module")
def single(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CameraSimulator]:
    """cam01 serves one session at a time; cam02 any number."""
    run_dir = tmp_path_factory.mktemp("camsim-single")
    with CameraSimulator(
        run_dir,
        2,
        width=SIM_WIDTH,
        height=SIM_HEIGHT,
        bitrate=SIM_BITRATE,
        sessions={"cam01": 1},
    ) as sim:
        yield sim


query = query_state


def latest(state_file: Path, camera: str) -> dict[str, tuple[str, str, dict[str, Any]]]:
    """The camera's latest check: check name -> (status, reason, values)."""
    rows = query(
        state_file,
        "SELECT check_name, status, reason, values_json FROM validations WHERE camera = ?"
        " AND checked_at_ms = (SELECT max(checked_at_ms) FROM validations WHERE camera = ?)",
        camera,
        camera,
    )
    return {r[0]: (r[1], r[2], json.loads(r[3])) for r in rows}


def recorded_since(state_file: Path, camera: str, since_ms: int) -> int:
    rows = query(
        state_file,
        "SELECT count(*) FROM segments WHERE camera = ? AND start_ms > ?",
        camera,
        since_ms,
    )
    return int(rows[0][0]) if rows else 0


def second_reader_refused(url: str) -> bool:
    result = subprocess.run(
        [require_tool("ffprobe"), "-v", "error", "-rtsp_transport", "tcp", "-show_streams", url],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return result.returncode != 0 and "400 Bad Request" in result.stderr


def write_config(tmp_path: Path, sim: CameraSimulator) -> tuple[Path, Path]:
    state_file = tmp_path / "state" / "state.db"
    state_file.parent.mkdir()
    (tmp_path / "recordings").mkdir()
    config = tmp_path / "nvr.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "site": {"id": "test-01"},
                "storage": {
                    "recordings_dir": str(tmp_path / "recordings"),
                    "state_file": str(state_file),
                },
                # The policy is on: only a black or covered picture may pause a camera.
                "recording": {
                    "segment_seconds": SEGMENT_SECONDS,
                    "record_when_invalid_picture": False,
                },
                "validation": {"interval_seconds": INTERVAL, "workers": 2},
                "cameras": [
                    # A typo in expect.codec: reported, never a reason to stop recording.
                    {"id": "cam01", "url": sim.camera_url("cam01"), "expect": {"codec": "hevc"}},
                    {"id": "cam02", "url": sim.camera_url("cam02"), "record": False},
                ],
            }
        )
    )
    return config, state_file


def test_single_session_camera_is_recorded_and_validated_from_its_recording(
    single: CameraSimulator, tmp_path: Path
) -> None:
    config, state_file = write_config(tmp_path, single)
    backup, validator = Child(tmp_path, "backup"), Child(tmp_path, "validator")
    backup_argv = [sys.executable, "-m", "nvr.backup.main", "--config", str(config)]
    try:
        backup.spawn(backup_argv)
        wait_until(lambda: recorded_since(state_file, "cam01", 0), 60, "cam01 recorded")
        # The camera's one session is the recorder's: a second reader is refused.
        assert second_reader_refused(single.camera_url("cam01"))
        validator.spawn([sys.executable, "-m", "nvr.validator.main", "--config", str(config)])
        wait_until(lambda: "frozen" in latest(state_file, "cam01"), 90, "cam01 checked")
        checks = latest(state_file, "cam01")
        # Checked from the segment: reachable because recorded, picture decoded, no session.
        assert checks["reachable"][0] == "ok"
        assert checks["reachable"][2]["source"] == "recording"
        assert checks["stream"][0] == "warn"
        assert "codec is h264, expected hevc" in checks["stream"][1]
        assert "may not play" not in checks["stream"][1]
        assert {checks[c][0] for c in ("black", "frozen")} == {"ok"}
        # The camera nobody records is read over RTSP, as before.
        wait_until(lambda: "frozen" in latest(state_file, "cam02"), 90, "cam02 checked")
        assert "source" not in latest(state_file, "cam02")["reachable"][2]

        # nvr-backup restarts while the validator's warning stands: recording resumes.
        backup.stop()
        restarted_ms = int(time.time() * 1000)
        backup.spawn(backup_argv)
        wait_until(lambda: recorded_since(state_file, "cam01", restarted_ms), 60, "recording again")
        # Another round after the restart still reads the recording, never "offline".
        round_after = int(time.time() * 1000)
        wait_until(
            lambda: query(
                state_file,
                "SELECT 1 FROM validations WHERE camera = 'cam01' AND check_name = 'frozen'"
                " AND checked_at_ms > ?",
                round_after,
            ),
            90,
            "cam01 checked after the restart",
        )
    finally:
        for child in (validator, backup):
            if child.proc is not None:
                child.stop()
    fails = "SELECT check_name, reason FROM validations WHERE camera = 'cam01' AND status = 'fail'"
    failures = query(state_file, fails)
    assert failures == []
    assert query(state_file, "SELECT kind FROM events WHERE kind = 'camera_invalid'") == []
    runs = query(state_file, "SELECT end_reason FROM recording_runs WHERE camera = 'cam01'")
    assert {r[0] for r in runs} == {"shutdown"}
    for child in (backup, validator):
        for camera in single.camera_ids:
            assert single.password(camera) not in child.log()


def test_a_check_the_box_cannot_finish_is_no_camera_fault(tmp_path: Path) -> None:
    """A segment read that never finishes (a FIFO nobody writes stands in for a stalled,
    overloaded box) ends in a warning and a retry, not in camera_invalid."""
    (tmp_path / "state").mkdir()
    config = parse_config(
        {
            "site": {"id": "test-01"},
            "storage": {
                "recordings_dir": str(tmp_path),
                "state_file": str(tmp_path / "state" / "state.db"),
            },
            "validation": {"timeout_seconds": 1},
            "cameras": [{"id": "cam01", "url": "rtsp://admin:pw-9x@127.0.0.1:9/cam01"}],
        },
        tmp_path / "nvr.yaml",
    )
    fifo = tmp_path / "stalled.mp4"
    os.mkfifo(fifo)
    source = Source(SourceKind.RECORDING, fifo, int(time.time() * 1000))
    with StateStore.open(config.storage.state_file) as store:
        engine = Engine(store, config.storage.state_file, default_tools())
        outcome = engine.check(config.cameras[0], settings_of(config), source)
        engine.record(outcome)
        events = store.read().execute("SELECT kind FROM events").fetchall()
    # Let the abandoned read finish: a writer that closes gives it end-of-file.
    os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    stream = next(r for r in outcome.report.results if r.check is Check.STREAM)
    assert stream.status is Status.WARN
    assert stream.problem == BUSY
    assert stream.reason.startswith("validator could not finish: box busy")
    assert outcome.retry
    assert outcome.report.status is not Status.FAIL
    assert events == []


# Deadlines of the policy test, from what has to happen on a 2-core box shared with other
# tests (each wait returns as soon as its condition holds): a Python daemon's start and a
# camera session (~20 s loaded), a few segments, a few validation intervals.
SEGMENT_SECONDS = 4
FIRST_SEGMENT_S = 120  # nvr-backup starts, connects, closes its first segment
VERDICT_S = 60 + 6 * INTERVAL  # nvr-validator starts, and a few checks pass (one may time out)


@pytest.mark.timeout(900)
def test_black_picture_policy_pauses_and_resumes_through_both_daemons(
    single: CameraSimulator, tmp_path: Path
) -> None:
    """The one verdict that stops recording, end to end: the validator sees black in the
    recording, nvr-backup pauses, the validator then reads the camera itself (its old
    segment would keep it paused) and recording resumes when the picture returns."""
    state_file = tmp_path / "state" / "state.db"
    state_file.parent.mkdir()
    config = tmp_path / "nvr.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "site": {"id": "test-01"},
                "storage": {"recordings_dir": str(tmp_path), "state_file": str(state_file)},
                "recording": {
                    "segment_seconds": SEGMENT_SECONDS,
                    "record_when_invalid_picture": False,
                },
                # This test is about the pause: events without waiting for a confirmation.
                "validation": {"interval_seconds": INTERVAL, "workers": 1, "confirm_checks": 1},
                "cameras": [{"id": "cam02", "url": single.camera_url("cam02")}],
            }
        )
    )
    backup, validator = Child(tmp_path, "backup"), Child(tmp_path, "validator")
    paused = "SELECT ended_at_ms FROM recording_runs WHERE camera = 'cam02' AND end_reason = ?"
    black_fails = (
        "SELECT 1 FROM validations WHERE camera = 'cam02' AND check_name = 'black'"
        " AND status = 'fail'"
    )
    try:
        backup.spawn([sys.executable, "-m", "nvr.backup.main", "--config", str(config)])
        wait_until(
            lambda: recorded_since(state_file, "cam02", 0), FIRST_SEGMENT_S, "cam02 recorded"
        )
        single.set_fault("cam02", Fault.BLACK)
        black_from = int(time.time() * 1000)
        # A segment recorded after the picture went black, then the validator.
        wait_until(
            lambda: recorded_since(state_file, "cam02", black_from),
            FIRST_SEGMENT_S,
            "black recorded",
        )
        validator.spawn([sys.executable, "-m", "nvr.validator.main", "--config", str(config)])
        (paused_at,) = wait_until(
            lambda: query(state_file, paused, EndReason.PICTURE_POLICY), VERDICT_S, "cam02 paused"
        )[0]
        # The pause followed a black verdict. (Not "the latest check is black": by the
        # time this looks, a loaded box may have run the next check, which reads the
        # camera itself and can time out without a picture verdict.)
        assert query(state_file, black_fails + " AND checked_at_ms <= ?", paused_at)
        single.set_fault("cam02", None)
        cleared = int(time.time() * 1000)
        wait_until(
            lambda: recorded_since(state_file, "cam02", cleared),
            VERDICT_S + FIRST_SEGMENT_S,
            "recording again",
        )
        # The check that cleared the pause read the camera itself. It may have started
        # (checked_at_ms) before the fault was cleared: the first check after the last
        # black one.
        checks = query(
            state_file,
            "SELECT values_json FROM validations WHERE camera = 'cam02' AND check_name ="
            " 'reachable' AND checked_at_ms > (SELECT max(checked_at_ms) FROM validations"
            " WHERE camera = 'cam02' AND check_name = 'black' AND status = 'fail')"
            " ORDER BY id LIMIT 1",
        )
        assert checks and "recording" not in checks[0][0]
        # People hear of it: invalid for the black picture, valid when it is back.
        events = "SELECT kind, message FROM events WHERE camera = 'cam02'"
        valid = events + " AND kind = 'camera_valid'"
        wait_until(lambda: query(state_file, valid), VERDICT_S, "cam02 valid again")
    finally:
        single.set_fault("cam02", None)
        for child in (validator, backup):
            if child.proc is not None:
                child.stop()
    said = query(state_file, events + " AND kind LIKE 'camera_%valid' ORDER BY id")
    assert said[0][0] == "camera_invalid" and "black" in said[0][1], said
    assert said[-1][0] == "camera_valid" and said.count(said[-1]) == 1, said
    # Between them only a change of reason, each said once: the simulator's publisher is
    # restarted to clear the fault, and a check that reads the camera in that moment
    # finds no stream (a real camera coming back can do the same).
    between = said[1:-1]
    assert all(kind == "camera_invalid" for kind, _ in between), said
    assert all(a[1] != b[1] for a, b in itertools.pairwise(said[:-1])), said
