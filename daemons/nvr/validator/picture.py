"""Picture checks on decoded frames: black, exposure, covered, blur, frozen.

The functions take frames (gray uint8 arrays, all the same size), so the daemon (frames
from RTSP) and the labelled clip set of the tests (frames from files) share the code.
Statistics are computed per tile and summarised with medians and shares, so a small
moving overlay such as the camera's clock does not change the verdict; ignore regions
mask larger areas. See docs/design/validation.md.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from nvr.validator import constants as c
from nvr.validator.results import Check, CheckResult, Status

Gray = npt.NDArray[np.uint8]
Mask = npt.NDArray[np.bool_]
Region = tuple[float, float, float, float]


@dataclass(frozen=True)
class Baseline:
    """A camera's picture in its first good checks."""

    sharpness: float
    detail: float
    samples: int = 1


@dataclass(frozen=True)
class FrameStats:
    """What the checks measure on a sample of frames (median over the frames)."""

    mean: float
    p10: float
    p90: float
    detail: float  # mean tile standard deviation
    flat_share: float  # share of tiles flatter than TEXTURED_TILE_STD
    sharpness: float  # median over textured tiles of var(Laplacian) / var(luma)
    changed_share: float  # largest share of tiles changed between consecutive frames


def tile_mask(shape: tuple[int, ...], regions: Sequence[Region]) -> Mask:
    """Tiles to use (True), leaving out those that touch an ignore region."""
    keep = np.ones((c.TILE_ROWS, c.TILE_COLUMNS), dtype=bool)
    for x, y, width, height in regions:
        left, top = int(x * c.TILE_COLUMNS), int(y * c.TILE_ROWS)
        right = int(np.ceil((x + width) * c.TILE_COLUMNS))
        bottom = int(np.ceil((y + height) * c.TILE_ROWS))
        keep[top:bottom, left:right] = False
    return keep


def _tiles(frame: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Cut a frame into TILE_ROWS x TILE_COLUMNS tiles: shape (rows, cols, th, tw)."""
    th, tw = frame.shape[0] // c.TILE_ROWS, frame.shape[1] // c.TILE_COLUMNS
    cropped = frame[: th * c.TILE_ROWS, : tw * c.TILE_COLUMNS]
    return cropped.reshape(c.TILE_ROWS, th, c.TILE_COLUMNS, tw).swapaxes(1, 2)


def _sharpness(frame: Gray, tile_std: npt.NDArray[np.float32], keep: Mask) -> float:
    laplacian = np.asarray(cv2.Laplacian(frame, cv2.CV_32F, ksize=3), dtype=np.float32)
    lap_var = _tiles(laplacian).var(axis=(2, 3))
    textured = keep & (tile_std >= c.TEXTURED_TILE_STD)
    if not textured.any():
        return 0.0
    return float(np.median(lap_var[textured] / np.square(tile_std[textured])))


def _changed_share(frames: Sequence[Gray], keep: Mask) -> float:
    if len(frames) < 2:
        return 1.0
    shares = []
    for before, after in itertools.pairwise(frames):
        diff = np.abs(after.astype(np.float32) - before.astype(np.float32))
        changed = _tiles(diff).mean(axis=(2, 3)) > c.FROZEN_TILE_DIFF
        shares.append(float(changed[keep].mean()))
    return max(shares)


def measure(frames: Sequence[Gray], regions: Sequence[Region] = ()) -> FrameStats:
    """Measure the statistics every check uses; `frames` must not be empty."""
    keep = tile_mask(frames[0].shape, regions)
    per_frame = []
    for frame in frames:
        tiles = _tiles(frame.astype(np.float32))
        tile_std = tiles.std(axis=(2, 3))
        used = tiles[keep].ravel()
        p10, p90 = np.percentile(used, [10, 90])
        per_frame.append(
            (
                float(used.mean()),
                float(p10),
                float(p90),
                float(tile_std[keep].mean()),
                float((tile_std[keep] < c.TEXTURED_TILE_STD).mean()),
                _sharpness(frame, tile_std, keep),
            )
        )
    mean, p10, p90, detail, flat, sharp = (
        round(float(v), 4) for v in np.median(np.array(per_frame), axis=0)
    )
    return FrameStats(mean, p10, p90, detail, flat, sharp, _changed_share(frames, keep))


def check_black(stats: FrameStats) -> CheckResult:
    """Black or no signal: nearly every pixel dark and uniform."""
    values = {"p90_luma": round(stats.p90, 1), "p10_luma": round(stats.p10, 1)}
    spread = stats.p90 - stats.p10
    if stats.p90 < c.BLACK_P90_LUMA and spread < c.BLACK_SPREAD:
        reason = f"picture is black (90% of pixels below luma {stats.p90:.0f}): no video signal"
        return CheckResult(Check.BLACK, Status.FAIL, reason, values, "black")
    return CheckResult(Check.BLACK, Status.OK, "", values)


def check_exposure(stats: FrameStats) -> CheckResult:
    """Too dark or washed out."""
    values = {"mean_luma": round(stats.mean, 1), "p10_luma": round(stats.p10, 1)}
    if stats.mean < c.DARK_MEAN_LUMA:
        reason = (
            f"picture too dark (mean luma {stats.mean:.0f} < {c.DARK_MEAN_LUMA:.0f}):"
            " check IR lighting or exposure"
        )
        return CheckResult(Check.EXPOSURE, Status.FAIL, reason, values, "too dark")
    if stats.mean > c.WASHED_MEAN_LUMA and stats.p10 > c.WASHED_P10_LUMA:
        reason = (
            f"picture washed out (mean luma {stats.mean:.0f}, darkest 10% above"
            f" {stats.p10:.0f}): overexposed, glare or fog on the lens"
        )
        return CheckResult(Check.EXPOSURE, Status.FAIL, reason, values, "washed out")
    if stats.mean < c.DARK_WARN_MEAN_LUMA:
        reason = f"picture rather dark (mean luma {stats.mean:.0f})"
        return CheckResult(Check.EXPOSURE, Status.WARN, reason, values, "dark")
    return CheckResult(Check.EXPOSURE, Status.OK, "", values)


def check_covered(stats: FrameStats, baseline: Baseline | None) -> CheckResult:
    """Covered or tampered: most of the detail gone compared with the camera's baseline."""
    values: dict[str, float | None] = {
        "detail": round(stats.detail, 2),
        "flat_share": round(stats.flat_share, 3),
        "baseline_detail": round(baseline.detail, 2) if baseline else None,
    }
    if baseline is not None and baseline.detail > 0:
        ratio = stats.detail / baseline.detail
        values["detail_ratio"] = round(ratio, 3)
        lost = ratio < c.COVERED_DETAIL_RATIO
    else:
        lost = stats.detail < c.COVERED_ABS_DETAIL
    # Lost detail alone may be a strong blur of a fine texture; covered is also flat.
    lost = lost and stats.flat_share >= c.COVERED_MIN_FLAT_SHARE
    if lost or stats.flat_share >= c.COVERED_FLAT_SHARE:
        reason = (
            f"picture lost its detail ({stats.flat_share:.0%} of it flat): lens covered,"
            " sprayed or camera turned to a wall"
        )
        return CheckResult(Check.COVERED, Status.FAIL, reason, values, "covered")
    return CheckResult(Check.COVERED, Status.OK, "", values)


def check_blur(stats: FrameStats, baseline: Baseline | None) -> CheckResult:
    """Blurred or out of focus: sharpness against the camera's baseline."""
    values: dict[str, float | None] = {
        "sharpness": round(stats.sharpness, 4),
        "baseline_sharpness": round(baseline.sharpness, 4) if baseline else None,
    }
    if baseline is None or baseline.sharpness <= 0:
        if stats.sharpness < c.BLUR_ABS_SHARPNESS:
            reason = "picture blurred (no baseline yet, very soft): focus or dirty lens"
            return CheckResult(Check.BLUR, Status.FAIL, reason, values, "blurred")
        return CheckResult(Check.BLUR, Status.OK, "", values)
    ratio = stats.sharpness / baseline.sharpness
    values["sharpness_ratio"] = round(ratio, 3)
    if ratio < c.BLUR_FAIL_RATIO:
        status = Status.FAIL
    elif ratio < c.BLUR_WARN_RATIO:
        status = Status.WARN
    else:
        return CheckResult(Check.BLUR, Status.OK, "", values)
    reason = (
        f"picture blurred ({ratio:.0%} of its usual sharpness): out of focus, dirty or fogged lens"
    )
    return CheckResult(Check.BLUR, status, reason, values, "blurred")


def check_frozen(stats: FrameStats, frames: int, seconds: float) -> CheckResult:
    """Frozen: (almost) nothing changed over the sample, apart from a small overlay."""
    values = {"changed_share": round(stats.changed_share, 3), "frames": frames}
    if frames < c.MIN_FRAMES_FOR_FREEZE:
        reason = f"only {frames} frame(s) in {seconds:.0f} s: cannot tell whether frozen"
        return CheckResult(Check.FROZEN, Status.WARN, reason, values, "too few frames")
    if stats.changed_share < c.FROZEN_MAX_CHANGED:
        reason = (
            f"picture frozen: {stats.changed_share:.0%} of it changed in {seconds:.0f} s"
            " (a running clock alone does not count)"
        )
        return CheckResult(Check.FROZEN, Status.FAIL, reason, values, "frozen")
    return CheckResult(Check.FROZEN, Status.OK, "", values)


def analyse(
    frames: Sequence[Gray],
    baseline: Baseline | None,
    regions: Sequence[Region] = (),
    seconds: float = 0.0,
) -> tuple[list[CheckResult], FrameStats]:
    """Run the picture checks in order; a failed check hides those it makes meaningless.

    A black picture is only reported black; a badly exposed one only as such (blur and
    detail measures are unreliable there); a covered one is not also called blurred or
    frozen.
    """
    stats = measure(frames, regions)
    gates: tuple[Callable[[], CheckResult], ...] = (
        lambda: check_black(stats),
        lambda: check_exposure(stats),
        lambda: check_covered(stats, baseline),
    )
    results: list[CheckResult] = []
    for gate in gates:
        results.append(gate())
        if results[-1].status is Status.FAIL:
            return results, stats
    results.append(check_blur(stats, baseline))
    results.append(check_frozen(stats, len(frames), seconds))
    return results, stats


def learn(baseline: Baseline | None, stats: FrameStats) -> Baseline | None:
    """The baseline after one more good check, or None when it is complete already."""
    if baseline is None:
        return Baseline(stats.sharpness, stats.detail, 1)
    if baseline.samples >= c.BASELINE_SAMPLES:
        return None
    n = baseline.samples
    return Baseline(
        (baseline.sharpness * n + stats.sharpness) / (n + 1),
        (baseline.detail * n + stats.detail) / (n + 1),
        n + 1,
    )
