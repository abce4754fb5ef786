"""Precision and recall of the picture checks on the labelled clip set (>= 40 clips)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from . import clipset
from .evaluate import baseline_of, judge, table

MIN_SCORE = 0.9


@pytest.mark.timeout(600)  # the first run encodes the set (about a minute), later runs reuse it
def test_every_defect_is_found_with_precision_and_recall_of_at_least_09() -> None:
    clips = clipset.ensure()
    assert len(clips) >= 40
    baselines = {clip.scene: baseline_of(clip) for clip in clips if clip.defect is None}
    with ThreadPoolExecutor(2) as pool:
        verdicts = list(pool.map(lambda clip: judge(clip, baselines[clip.scene]), clips))
    text, scores = table(verdicts)
    print("\n" + text)
    low = {d: s for d, s in scores.items() if min(s) < MIN_SCORE}
    wrong = [f"{v.clip.name}: {sorted(v.problems)}" for v in verdicts if v.problems]
    assert not low, f"{text}\nclips flagged: {wrong}"
    healthy = [v for v in verdicts if v.clip.defect is None]
    assert all(not v.problems for v in healthy), text
