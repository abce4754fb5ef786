"""Each fault of the simulated cameras is found with the right reason; healthy ones pass.

Real mediamtx and ffmpeg; the checks run in parallel, as in the daemon.
"""

from __future__ import annotations

import json
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from nvr.core.config import CameraConfig, Config, parse_config
from nvr.core.state import StateStore, now_ms
from nvr.validator.checker import Outcome
from nvr.validator.engine import Engine, default_tools, settings_of
from nvr.validator.results import Check, Status
from nvr.validator.source import Source, SourceKind, pick_source
from nvr_camsim import CameraSimulator, Fault

from .conftest import HEIGHT, WIDTH

pytestmark = pytest.mark.timeout(240)


def make_config(tmp_path: Path, sim: CameraSimulator) -> Config:
    (tmp_path / "state").mkdir(exist_ok=True)
    return parse_config(
        {
            "site": {"id": "test-01"},
            "storage": {
                "recordings_dir": str(tmp_path),
                "state_file": str(tmp_path / "state" / "state.db"),
            },
            "validation": {"sample_seconds": 4, "timeout_seconds": 30},
            "cameras": [
                {
                    "id": cid,
                    "url": sim.camera_url(cid),
                    "expect": {"codec": "h264", "width": WIDTH, "height": HEIGHT, "fps": 25},
                }
                for cid in sim.camera_ids
            ],
        },
        tmp_path / "nvr.yaml",
    )


def live(config: Config, camera: CameraConfig) -> Source:
    """The camera itself (none of these cameras is recorded), as the daemon picks it."""
    with StateStore.open(config.storage.state_file) as store:
        source = pick_source(store.read(), config, camera, now_ms())
    assert source.kind is SourceKind.CAMERA
    return source


def check_all(engine: Engine, config: Config) -> dict[str, Outcome]:
    settings = settings_of(config)
    with ThreadPoolExecutor(4) as pool:
        outcomes = list(
            pool.map(lambda cam: engine.check(cam, settings, live(config, cam)), config.cameras)
        )
    for outcome in outcomes:
        engine.record(outcome)
    return {o.report.camera: o for o in outcomes}


def failed(outcome: Outcome) -> dict[str, str]:
    return {str(r.check): r.reason for r in outcome.report.results if r.status is Status.FAIL}


def rows(state_file: Path) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(state_file)
    try:
        return conn.execute(
            "SELECT camera, check_name, status, reason, values_json FROM validations"
        ).fetchall()
    finally:
        conn.close()


def test_faults_are_found_with_a_reason_and_healthy_cameras_pass(
    sim: CameraSimulator, tmp_path: Path
) -> None:
    config = make_config(tmp_path, sim)
    with StateStore.open(config.storage.state_file) as store:
        engine = Engine(store, config.storage.state_file, default_tools())
        # First round: every camera healthy; they learn their baselines.
        first = check_all(engine, config)
        for camera, outcome in first.items():
            assert outcome.report.status is Status.OK, (camera, outcome.report.results)
            checks = {str(r.check) for r in outcome.report.results}
            assert {"reachable", "stream", "black", "blur", "frozen"} <= checks
        assert set(engine.baselines) == set(sim.camera_ids)

        for cid, fault in zip(
            sim.camera_ids, [Fault.BLACK, Fault.FROZEN, Fault.BLURRED, Fault.DARK], strict=True
        ):
            sim.set_fault(cid, fault)
        second = check_all(engine, config)
        assert "black" in failed(second["cam01"])["black"]
        assert "frozen" in failed(second["cam02"])["frozen"]
        assert "blurred" in failed(second["cam03"])["blur"]
        assert "too dark" in failed(second["cam04"])["exposure"]
        assert [second[c].report.problem for c in sim.camera_ids] == [
            "black",
            "frozen",
            "blurred",
            "too dark",
        ]

        faults = [Fault.OFFLINE, Fault.WRONG_PASSWORD, Fault.WRONG_RESOLUTION, None]
        for cid, fault in zip(sim.camera_ids, faults, strict=True):
            sim.set_fault(cid, fault)
        third = check_all(engine, config)
        assert third["cam01"].report.problem == "not found"  # mediamtx answers 404 for it
        assert "stream not found" in failed(third["cam01"])["reachable"]
        assert third["cam02"].report.problem == "auth failed"
        assert "refused the user name or password" in failed(third["cam02"])["reachable"]
        stream = next(r for r in third["cam03"].report.results if r.check is Check.STREAM)
        assert stream.status is Status.WARN
        assert "resolution is 1280x720, expected 640x360" in stream.reason
        assert third["cam04"].report.status is Status.OK  # the blurred camera recovered
        states = dict(engine.states)

    # Snapshots: the healthy camera has a good one, the black camera a bad one.
    snapshots = config.storage.state_file.parent / "snapshots"
    assert (snapshots / "cam04" / "last_good.jpg").read_bytes()[:2] == b"\xff\xd8"
    assert (snapshots / "cam01" / "last_bad.jpg").read_bytes()[:2] == b"\xff\xd8"
    assert states["cam02"].status is Status.FAIL
    # No password anywhere in the stored results.
    text = json.dumps(rows(config.storage.state_file))
    for cid in sim.camera_ids:
        assert sim.password(cid) not in text
    assert "admin:***@" in text


def test_wrong_codec_is_reported_not_enforced(sim: CameraSimulator, tmp_path: Path) -> None:
    config = make_config(tmp_path, sim)
    camera = config.cameras[0].model_copy(
        update={"expect": config.cameras[0].expect.model_copy(update={"codec": "hevc"})}
    )
    with StateStore.open(config.storage.state_file) as store:
        engine = Engine(store, config.storage.state_file, default_tools())
        outcome = engine.check(camera, settings_of(config), live(config, camera))
    stream = next(r for r in outcome.report.results if r.check is Check.STREAM)
    assert stream.status is Status.WARN
    assert "codec is h264, expected hevc (cameras[].expect.codec)" in stream.reason
    assert "may not play" not in stream.reason
    # The picture is still checked: a typo in expect.codec hides nothing.
    assert next(r for r in outcome.report.results if r.check is Check.BLACK).status is Status.OK


def test_nvrctl_validate_prints_one_camera_result(
    sim: CameraSimulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import argparse

    import yaml

    from nvr.cli import validate_cmd

    make_config(tmp_path, sim)
    path = tmp_path / "nvr.yaml"
    config = {
        "site": {"id": "test-01"},
        "storage": {"recordings_dir": str(tmp_path), "state_file": str(tmp_path / "state/s.db")},
        "cameras": [{"id": "cam01", "url": sim.camera_url("cam01")}],
    }
    path.write_text(yaml.safe_dump(config))
    sim.set_fault("cam01", Fault.WRONG_PASSWORD)
    parser = argparse.ArgumentParser()
    validate_cmd.add_parser(parser.add_subparsers())
    args = parser.parse_args(["validate", "--camera", "cam01", "--config", str(path)])
    assert args.func(args) == 1
    out = capsys.readouterr().out
    assert "cam01: fail (auth failed)" in out
    assert sim.password("cam01") not in out
