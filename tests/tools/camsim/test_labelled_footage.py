"""The blind4 labelled set (nvr_camsim.labelled_footage): what the picture bench relies on."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from nvr_camsim.labelled import Defect
from nvr_camsim.labelled_footage import (
    BLIND4,
    DEFECT_SECONDS,
    HEALTHY_SECONDS,
    SCENES,
    SOURCES,
    source_path,
)

pytestmark = pytest.mark.timeout(120)
CHECK_SECONDS = 4  # the bench reads a clip as checks of 4 s, the first two teach
LEARNING_CHECKS = 2


def test_set_has_every_defect_and_enough_healthy_checks_from_installed_sources() -> None:
    clips = BLIND4.clips()
    names = [clip.name for clip in clips]
    assert len(names) == len(set(names)), "two clips share a name"
    assert {clip.defect for clip in clips} == {None, *Defect}
    checks = HEALTHY_SECONDS // CHECK_SECONDS
    by_name = {scene.name: scene for scene in SCENES}
    # Judged with the own baseline after learning; night/IR also with the day's (dusk).
    healthy = sum(checks - LEARNING_CHECKS + (checks if s.day else 0) for s in SCENES)
    assert healthy >= 200, f"only {healthy} healthy checks with a baseline"
    for scene in SCENES:
        assert not scene.day or by_name[scene.day].encoder == scene.encoder
    for source in SOURCES.values():
        assert source_path(source).is_file()
        assert source.licence


def _frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="gray") for f in container.decode(video=0)]


def test_stuck_sensor_keeps_its_clock_running_and_stuck_encoder_does_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NVR_DEV_CACHE", str(tmp_path))
    # Real footage, OSD bottom left; both frozen kinds are among its defects.
    scene = next(s for s in SCENES if s.name == "campus-night")
    clips = {
        clip.strength: clip
        for clip in BLIND4.clips()
        if clip.scene is scene and clip.strength in ("sensor-stuck", "encoder-stuck")
    }
    assert len(clips) == 2
    BLIND4.ensure(list(clips.values()), workers=2)
    for strength, clip in clips.items():
        assert clip.path.is_file() and str(clip.path).startswith(str(tmp_path))
        frames = _frames(clip.path)
        assert len(frames) == round(DEFECT_SECONDS * scene.encoder.fps)
        first, last = frames[0].astype(np.int16), frames[-1].astype(np.int16)
        # The share of the clock's pixels that changed: its digits (>= 1 %) or nothing.
        clock = (np.abs(first[-20:, :200] - last[-20:, :200]) > 60).mean()
        picture = np.abs(first[20:-30] - last[20:-30]).mean()
        assert picture < 2, f"{strength}: the picture moved ({picture:.1f})"
        if strength == "sensor-stuck":
            assert clock > 0.005, f"the clock stood still on a stuck sensor ({clock:.2%})"
        else:
            assert clock < 0.001, f"the clock ran on a stuck encoder ({clock:.2%})"
