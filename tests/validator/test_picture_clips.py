"""The picture checks on real scenes made by ffmpeg, checked as nvr-validator checks a camera
it records (from the segment file): a night scene is not "too dark", a nearly static scene
with a clock is not "frozen", nor one whose encoder removed all its sensor noise, a frozen
picture re-encoded by a bitrate-capped camera is, a blurred camera is found without a
baseline, an over-exposed one is "washed out", a camera switching to infrared at dusk is no
defect, and an event waits for a second failing check.

The clips come from the held-out labelled set (nvr_camsim.labelled), no threshold was set
on them; the whole set is scored by tests/bench/bench_picture.py.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from nvr.core.config import Config, parse_config
from nvr.core.state import StateStore, now_ms
from nvr.validator import checker
from nvr.validator.checker import Outcome, Settings
from nvr.validator.constants import BASELINE_SAMPLES
from nvr.validator.engine import Engine, default_tools
from nvr.validator.picture import Mode, analyse
from nvr.validator.results import Check, Status
from nvr.validator.segment import Part, read_segment
from nvr.validator.source import Source, SourceKind
from nvr_camsim.clips import ClipSpec, Variant, ensure_clip
from nvr_camsim.labelled import HELDOUT, Clip
from nvrtest import query_state

pytestmark = pytest.mark.timeout(400)  # a first run encodes five clips (~1 min on 2 cores)

SETTINGS = Settings(timeout=60.0, sample_seconds=4.0, keyframes_only=True)
# camera -> the clip it shows: scene, defect or "good"
WANTED = {
    "night": ("lot-night", "good"),
    "lot": ("lot", "good"),
    "frozen": ("lot", "frozen"),
    "blurred": ("lot", "blurred"),
    "chart": ("chart", "good"),  # still, its encoder removed the sensor noise
}


def pick(scene: str, defect: str) -> Clip:
    return next(
        clip
        for clip in HELDOUT.clips()
        if clip.scene.name == scene
        and str(clip.defect or "good") == defect
        and clip.strength in ("plain", "capped-reencode", "dirty-lens", "clipped")
    )


@pytest.fixture(scope="module")
def clips() -> dict[str, Path]:
    chosen = {camera: pick(*where) for camera, where in WANTED.items()}
    HELDOUT.ensure(list(chosen.values()), workers=2)
    return {camera: clip.path for camera, clip in chosen.items()}


def make_config(tmp_path: Path) -> Config:
    (tmp_path / "state").mkdir()
    return parse_config(
        {
            "site": {"id": "test-01"},
            "storage": {
                "recordings_dir": str(tmp_path),
                "state_file": str(tmp_path / "state" / "state.db"),
            },
            "cameras": [
                {"id": camera, "url": f"rtsp://admin:pw@127.0.0.1:1/{camera}"}
                for camera in (*WANTED, "dusk", "testsrc")
            ],
        },
        tmp_path / "nvr.yaml",
    )


def check(engine: Engine, config: Config, camera: str, segment: Path) -> Outcome:
    """One check of `camera` from `segment`, recorded: rows, baseline, maybe an event."""
    cam = config.camera(camera)
    assert cam is not None
    outcome = engine.check(cam, SETTINGS, Source(SourceKind.RECORDING, segment, now_ms()))
    engine.record(outcome)
    return outcome


def result(outcome: Outcome, which: Check) -> tuple[Status, str]:
    found = next(r for r in outcome.report.results if r.check is which)
    return found.status, found.reason


def events(state_file: Path) -> list[tuple[str, str, str]]:
    return [
        (str(kind), str(camera), str(message))
        for kind, camera, message in query_state(
            state_file, "SELECT kind, camera, message FROM events ORDER BY id"
        )
    ]


def test_real_scenes_are_judged_by_evidence_and_events_wait_for_a_second_check(
    clips: dict[str, Path], tmp_path: Path
) -> None:
    config = make_config(tmp_path)
    state_file = config.storage.state_file
    with StateStore.open(state_file) as store:
        engine = Engine(store, state_file, default_tools(), confirm_checks=2)

        # A night scene: dim, but full of detail. Not too dark, and the row says why.
        night = check(engine, config, "night", clips["night"])
        assert night.report.status is Status.OK, night.report.results
        status, reason = result(night, Check.EXPOSURE)
        assert status is Status.OK
        assert "mean brightness" in reason and "not too dark" in reason, reason

        # A parking lot whose only motion is its clock and sensor noise: not frozen. The
        # noise is read frame to frame, from the end of a GOP decoded whole (invariant 14).
        for _ in range(2):
            lot = check(engine, config, "lot", clips["lot"])
            assert lot.report.status is Status.OK, lot.report.results
            frozen = next(r for r in lot.report.results if r.check is Check.FROZEN)
            assert frozen.values["run_noise"] is not None, frozen.values

        # A colour chart whose encoder removed all sensor noise: frame to frame nothing
        # changes, but each keyframe holds new noise, so it is live (invariant 15).
        for _ in range(2):
            chart = check(engine, config, "chart", clips["chart"])
            frozen = next(r for r in chart.report.results if r.check is Check.FROZEN)
            assert frozen.status is Status.OK, chart.report.results
            assert frozen.values["key_noise_ratio"] >= 0.75, frozen.values

        # A frozen picture re-encoded by a bitrate-capped camera (keyframes differ): frozen,
        # with the measured value against its threshold. One check is no event yet.
        first = check(engine, config, "frozen", clips["frozen"])
        assert first.report.problem == "frozen", first.report.results
        assert "sensor noise frame to frame" in first.report.reason, first.report.reason
        assert "keyframes repeat one picture" in first.report.reason
        assert "(<" in first.report.reason
        assert engine.unconfirmed("frozen")
        assert events(state_file) == []
        second = check(engine, config, "frozen", clips["frozen"])
        assert second.report.problem == "frozen"
        assert not engine.unconfirmed("frozen")
        assert [(k, c) for k, c, _ in events(state_file)] == [("camera_invalid", "frozen")]
        assert "sensor noise" in events(state_file)[0][2]

        # A blurred camera never seen sharp: found without a baseline, and it still learns
        # its baseline (learning does not wait for the checks to pass).
        blurred = check(engine, config, "blurred", clips["blurred"])
        status, reason = result(blurred, Check.BLUR)
        assert status is Status.FAIL and "sharpness" in reason, blurred.report.results
        assert blurred.report.problem == "blurred"
        assert engine.baselines.get("blurred"), "a failing blur check must not stop learning"

        # Dusk: a camera that learned its day picture switches to the night picture.
        for _ in range(3):
            check(engine, config, "dusk", clips["lot"])
        dusk = check(engine, config, "dusk", clips["night"])
        assert dusk.report.status is Status.OK, dusk.report.results
        modes = set(engine.baselines["dusk"])
        assert len(modes) == 2 and Mode.DAY in modes, modes

    # The baselines are stored per mode; no event for any healthy camera.
    stored = query_state(state_file, "SELECT camera, mode FROM validator_mode_baselines")
    assert {(c, m) for c, m in stored} >= {("dusk", "day"), ("lot", "day")}
    assert {c for _, c, _ in events(state_file)} == {
        "frozen"
    }  # one over-exposed check: no event yet
    rows = query_state(state_file, "SELECT values_json FROM validations WHERE camera = 'night'")
    assert any(json.loads(v).get("mode") for (v,) in rows)


def test_a_learned_camera_with_new_noise_in_its_keyframes_is_checked_from_them_alone(
    clips: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A parking lot: nearly still, but each keyframe holds new sensor noise (invariant 15).
    learning = [clips["lot"]] * BASELINE_SAMPLES
    assert_run_read_only_when_it_matters(
        tmp_path, monkeypatch, "lot", learning, clips["lot"], clips["frozen"]
    )


def test_a_learned_camera_moving_outside_its_osd_is_checked_from_keyframes_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A starved encoder (720p at 800 kbit/s) leaves little noise in the keyframes, so only
    # the motion outside the learned OSD tells the frozen check beforehand that it passes.
    normal, frozen = (
        ensure_clip(ClipSpec(v, 1280, 720, 800_000)) for v in (Variant.NORMAL, Variant.FROZEN)
    )
    windows = [cut(normal, start, tmp_path / f"normal-{start}.mp4") for start in (0, 3, 6, 8)]
    still = cut(frozen, 8, tmp_path / "frozen.mp4")
    assert_run_read_only_when_it_matters(
        tmp_path, monkeypatch, "testsrc", windows[:-1], windows[-1], still
    )


def assert_run_read_only_when_it_matters(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    camera: str,
    learning: list[Path],
    live: Path,
    frozen: Path,
) -> None:
    """Invariant 16: once learned, a live camera costs its keyframes and nothing else."""
    segments = [*learning, live, frozen]
    hashes = {path: sha256_of(path) for path in segments}
    parts = decoded_parts(monkeypatch)
    config = make_config(tmp_path)
    with StateStore.open(config.storage.state_file) as store:
        engine = Engine(store, config.storage.state_file, default_tools(), confirm_checks=2)
        # While it learns, the run's GOP is decoded (its OSD tiles go into the baseline).
        for segment in learning:
            check(engine, config, camera, segment)
        assert parts == [Part.WHOLE] * BASELINE_SAMPLES
        # Learned, and live by its keyframes alone: the GOP is skipped ...
        parts.clear()
        learned = check(engine, config, camera, live)
        assert learned.report.status is Status.OK, learned.report.results
        assert parts == [Part.KEYFRAMES], frozen_values(learned)
        # ... and every verdict and reason is the one the run would have given.
        _, whole = read_segment(live, SETTINGS.sample_seconds, True, 60.0)
        assert whole.run, "the whole read decodes the run"
        with_run, _ = analyse(
            whole.frames, engine.baselines[camera], seconds=SETTINGS.sample_seconds, run=whole.run
        )
        picture = [r for r in learned.report.results if r.check in {x.check for x in with_run}]
        assert [(r.check, r.status, r.reason) for r in picture] == [
            (r.check, r.status, r.reason) for r in with_run
        ]
        # The same learned camera frozen: its keyframes repeat, so the run is read too.
        parts.clear()
        still = check(engine, config, camera, frozen)
        assert still.report.problem == "frozen", still.report.results
        assert parts == [Part.KEYFRAMES, Part.RUN]
    # Evidence: the segments read in every part keep their bytes.
    assert {path: sha256_of(path) for path in segments} == hashes


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def cut(clip: Path, start: int, out: Path) -> Path:
    """Five seconds of `clip` from `start`, as a later segment of the same camera."""
    argv = ["ffmpeg", "-loglevel", "error", "-ss", str(start), "-i", str(clip)]
    subprocess.run([*argv, "-t", "5", "-c", "copy", str(out)], check=True, timeout=60)
    return out


def decoded_parts(monkeypatch: pytest.MonkeyPatch) -> list[Part]:
    """The parts of segments the checker decodes, in order (the real reader still reads)."""
    parts: list[Part] = []

    def reading(*args: Any) -> Any:
        parts.append(args[-1])
        return read_segment(*args)

    monkeypatch.setattr(checker, "read_segment", reading)
    return parts


def frozen_values(outcome: Outcome) -> dict[str, Any]:
    return next(r for r in outcome.report.results if r.check is Check.FROZEN).values
