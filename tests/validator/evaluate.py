"""Run the validator's picture analysis on the labelled clip set; precision and recall."""

from __future__ import annotations

from dataclasses import dataclass

import cv2

from nvr.core.tools import require_tool
from nvr.validator.media import ToolRunner, analysis_size, grab_command, split_frames
from nvr.validator.picture import Baseline, Gray, analyse, measure
from nvr.validator.results import Status

from .clipset import BASELINE_SECONDS, EVAL_START, SECONDS, Clip

# The defect label of the set -> the problem word the validator reports.
PROBLEM_OF = {
    "black": "black",
    "frozen": "frozen",
    "blurred": "blurred",
    "dark": "too dark",
    "washed": "washed out",
    "covered": "covered",
}
SIZE = analysis_size(640, 360)


@dataclass(frozen=True)
class Verdict:
    """What the validator said about one clip."""

    clip: Clip
    problems: frozenset[str]
    detail: str


def frames_of(clip: Clip, start: float, seconds: float) -> list[Gray]:
    """Keyframes of a clip file, gray, as the daemon decodes a stream."""
    argv = grab_command(require_tool("ffmpeg"), str(clip.path), SIZE, seconds, True, start)
    frames = split_frames(ToolRunner()(argv, 60.0), SIZE)
    return [cv2.cvtColor(f, cv2.COLOR_BGR2GRAY) for f in frames]


def baseline_of(good: Clip) -> Baseline:
    """What a camera learns from its first good checks."""
    stats = measure(frames_of(good, 0.0, BASELINE_SECONDS))
    return Baseline(stats.sharpness, stats.detail)


def judge(clip: Clip, baseline: Baseline) -> Verdict:
    """The failing picture checks of a clip's evaluation window."""
    seconds = SECONDS - EVAL_START
    results, stats = analyse(frames_of(clip, EVAL_START, seconds), baseline, seconds=seconds)
    problems = frozenset(r.problem for r in results if r.status is Status.FAIL)
    return Verdict(clip, problems, repr(stats))


def table(verdicts: list[Verdict]) -> tuple[str, dict[str, tuple[float, float]]]:
    """Markdown table of precision/recall per defect, and the numbers."""
    lines = ["| defect | clips | precision | recall |", "|---|---|---|---|"]
    scores: dict[str, tuple[float, float]] = {}
    for label, problem in PROBLEM_OF.items():
        truth = [v.clip.defect == label for v in verdicts]
        said = [problem in v.problems for v in verdicts]
        tp = sum(t and s for t, s in zip(truth, said, strict=True))
        precision = tp / max(1, sum(said))
        recall = tp / max(1, sum(truth))
        scores[label] = (precision, recall)
        lines.append(f"| {label} | {sum(truth)} | {precision:.2f} | {recall:.2f} |")
    healthy = [v for v in verdicts if v.clip.defect is None]
    passed = sum(not v.problems for v in healthy)
    lines.append(f"| (healthy passed) | {len(healthy)} | | {passed}/{len(healthy)} |")
    return "\n".join(lines), scores
