"""The validator's picture checks on labelled clips, as a camera would be checked.

A clip (16 s or 24 s) is read as checks of 4 s each, keyframes only plus a run of
RUN_FRAMES consecutive frames from the keyframe a check starts on, decoded in-process by
PyAV at the validator's analysis size, like a check from a recording (segment.py). Used by the
tests (a few clips) and by tests/bench/bench_picture.py (every set, scored).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from nvr.validator.constants import MIN_FRAMES_FOR_FREEZE, RUN_FRAMES
from nvr.validator.media import Frame, analysis_size
from nvr.validator.picture import Baseline, FrameStats, Mode, analyse, learn, measure
from nvr.validator.results import CheckResult, Status
from nvr_camsim.labelled import Clip

CHECK_SECONDS = 4.0
SIZE = analysis_size(640, 360)


def windows(clip: Clip) -> range:
    """The checks a clip is read as: one per CHECK_SECONDS."""
    return range(int(clip.seconds // CHECK_SECONDS))


@dataclass(frozen=True)
class Check:
    """What the validator said about one window of one clip."""

    clip: Clip
    window: int
    results: tuple[CheckResult, ...]
    stats: FrameStats
    frames: int  # pictures the check read

    @property
    def problems(self) -> frozenset[str]:
        """The problem words of the failed checks."""
        return frozenset(r.problem for r in self.results if r.status is Status.FAIL)

    @property
    def reason(self) -> str:
        """The reasons of the failed checks, for a report."""
        return "; ".join(r.reason for r in self.results if r.status is Status.FAIL)


@dataclass(frozen=True)
class Keyframe:
    """A keyframe (BGR) and the run of its GOP: its last RUN_FRAMES frames (grey)."""

    time: float
    picture: Frame
    run: list[Frame]


def keyframes(path: Path) -> list[Keyframe]:
    """Every keyframe of a clip with its time and the run of its GOP, at the analysis size."""
    out: list[Keyframe] = []
    with av.open(str(path)) as container:
        for frame in container.decode(container.streams.video[0]):
            if frame.key_frame:
                picture = frame.to_ndarray(width=SIZE[0], height=SIZE[1], format="bgr24")
                out.append(Keyframe(float(frame.time or 0.0), np.ascontiguousarray(picture), []))
            elif out:
                grey = frame.to_ndarray(width=SIZE[0], height=SIZE[1], format="gray")
                out[-1].run.append(np.ascontiguousarray(grey))
                del out[-1].run[:-RUN_FRAMES]
    return out


def _window_keyframes(frames: list[Keyframe], window: int) -> list[Keyframe]:
    start, end = window * CHECK_SECONDS, (window + 1) * CHECK_SECONDS
    inside = [f for f in frames if start <= f.time < end]
    if len(inside) >= MIN_FRAMES_FOR_FREEZE:
        return inside
    return [f for f in frames if f.time < end][-MIN_FRAMES_FOR_FREEZE:]


def window_frames(frames: list[Keyframe], window: int) -> list[Frame]:
    """The keyframes of check number `window` (at least two, as segment.py reads them)."""
    return [f.picture for f in _window_keyframes(frames, window)]


def window_run(frames: list[Keyframe], window: int) -> list[Frame]:
    """The run a check reads: from the keyframe at or before its start, as segment.py seeks."""
    start = window * CHECK_SECONDS
    before = [f for f in frames if f.time <= start + 1e-3]
    return (before[-1] if before else _window_keyframes(frames, window)[0]).run


def learn_baseline(frames: list[Keyframe], windows: range) -> dict[Mode, Baseline]:
    """The baselines (per mode) a camera learns from its checks `windows` of a clip."""
    baselines: dict[Mode, Baseline] = {}
    for window in windows:
        stats = measure(window_frames(frames, window))
        updated = learn(baselines.get(stats.mode), stats)
        if updated is not None:
            baselines[stats.mode] = updated
    return baselines


def judge(
    clip: Clip, frames: list[Keyframe], window: int, baselines: dict[Mode, Baseline]
) -> Check:
    """One check of one window, with the baselines learned so far (maybe none)."""
    pictures = window_frames(frames, window)
    run = window_run(frames, window)
    results, stats = analyse(pictures, baselines, seconds=CHECK_SECONDS, run=run)
    return Check(clip, window, tuple(results), stats, len(pictures))
