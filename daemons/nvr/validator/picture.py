"""Picture checks on decoded frames: black, exposure, covered, blur, frozen.

The functions take BGR frames (all the same size), so the daemon (frames from RTSP or a
recording) and the labelled clip sets of the tests and the bench share the code.
Statistics are computed per tile and summarised with percentiles and shares, so a small
moving overlay such as the camera's clock does not change the verdict; ignore regions
mask larger areas. Each measure is chosen to survive sensor noise, night and infrared
pictures and nearly static scenes: see docs/design/validation.md, "Picture measures".
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

import cv2
import numpy as np
import numpy.typing as npt

from nvr.validator import constants as c
from nvr.validator.results import Check, CheckResult, Status

Gray = npt.NDArray[np.uint8]
Frame = npt.NDArray[np.uint8]
Floats = npt.NDArray[np.float32]
Mask = npt.NDArray[np.bool_]
Region = tuple[float, float, float, float]
_NOISE_MASK = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], dtype=np.float32)


class Mode(StrEnum):
    """What the camera's picture is like now: a camera learns one baseline per mode.

    A camera that switches to infrared at dusk changes mode, not health: its picture is
    compared with what it looked like in that mode before (invariant 11).
    """

    DAY = "day"
    NIGHT = "night"  # colour, dim
    IR = "ir"  # greyscale: the infrared cut filter is out


@dataclass(frozen=True)
class Baseline:
    """A camera's picture in its first checks that showed a scene, in one mode."""

    sharpness: float
    detail: float
    samples: int = 1
    mode: Mode = Mode.DAY
    # Tiles (row * TILE_COLUMNS + column) that changed in every check so far: the OSD.
    overlay: frozenset[int] = frozenset()


@dataclass(frozen=True)
class FrameStats:
    """What the checks measure on a sample of frames (median over the frames)."""

    mean: float
    p10: float
    p90: float
    clipped: float  # share of pixels at the top of the range (over-exposed)
    detail: float  # local contrast: 75th percentile of the tile std of the denoised picture
    spread: float  # structure: 75th percentile of the tile p95-p5 of the denoised picture
    flat_share: float  # share of tiles without texture (shading does not count as texture)
    sharpness: float  # edge steepness against the edge's contrast; 0: no edge to judge
    chroma: float  # mean colour saturation; ~0 for an infrared (greyscale) picture
    changed_share: float  # largest share of tiles changed between consecutive frames
    temporal_noise: float  # median tile change between consecutive frames (sensor noise)
    changed_tiles: frozenset[int] = frozenset()  # tiles that changed (row * columns + col)
    # From the run (consecutive frames at the end of a GOP); None: the sample had no run.
    run_noise: float | None = None  # 75th percentile of the tile change, median over pairs
    run_changed_share: float | None = None  # tiles changed from the run's first to last frame
    run_changed_tiles: frozenset[int] = frozenset()
    # The sensor noise in the difference of consecutive keyframes against the noise of the
    # keyframes themselves: ~1 when each holds a new draw of noise, lower when they repeat
    # one picture (a frozen sensor re-encoded: its noise pattern is coded again each time).
    key_noise_ratio: float = c.NO_NOISE_KNOWN

    @property
    def mode(self) -> Mode:
        """Day, night (dim colour) or infrared (greyscale)."""
        if self.chroma < c.IR_MAX_CHROMA:
            return Mode.IR
        return Mode.NIGHT if self.mean < c.NIGHT_MEAN_LUMA else Mode.DAY


def tile_mask(shape: tuple[int, ...], regions: Sequence[Region]) -> Mask:
    """Tiles to use (True), leaving out those that touch an ignore region."""
    keep = np.ones((c.TILE_ROWS, c.TILE_COLUMNS), dtype=bool)
    for x, y, width, height in regions:
        left, top = int(x * c.TILE_COLUMNS), int(y * c.TILE_ROWS)
        right = int(np.ceil((x + width) * c.TILE_COLUMNS))
        bottom = int(np.ceil((y + height) * c.TILE_ROWS))
        keep[top:bottom, left:right] = False
    return keep


def _tiles(frame: Floats) -> Floats:
    """Cut a frame into TILE_ROWS x TILE_COLUMNS tiles: shape (rows, cols, th, tw)."""
    th, tw = frame.shape[0] // c.TILE_ROWS, frame.shape[1] // c.TILE_COLUMNS
    cropped = frame[: th * c.TILE_ROWS, : tw * c.TILE_COLUMNS]
    return cropped.reshape(c.TILE_ROWS, th, c.TILE_COLUMNS, tw).swapaxes(1, 2)


def _gray(frame: Frame) -> Gray:
    if frame.ndim == 2:
        return frame
    return np.asarray(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY), dtype=np.uint8)


def _chroma(frame: Frame) -> float:
    """How far the most colourful tiles are from grey (0: greyscale).

    Tile means, not pixels: sensor noise on the chroma planes averages out, so a noisy
    infrared picture still measures grey.
    """
    if frame.ndim == 2:
        return 0.0
    ycc = cv2.cvtColor(frame, cv2.COLOR_BGR2YCrCb).astype(np.float32)
    cr = _tiles(np.ascontiguousarray(ycc[..., 1])).mean(axis=(2, 3)) - 128.0
    cb = _tiles(np.ascontiguousarray(ycc[..., 2])).mean(axis=(2, 3)) - 128.0
    # A high percentile: a grey car park with a few coloured cars is a colour picture.
    return float(np.percentile(np.abs(cr) + np.abs(cb), c.CHROMA_PERCENTILE))


def _noise_sigma(gray: Floats) -> float:
    """Sensor noise of one frame (Immerkaer's estimate: a mask blind to edges and ramps)."""
    return float(_tile_noise(gray).mean())


def _sharpness(gray: Floats, tile_range: Floats, keep: Mask, noise: float) -> float:
    """Median over edge tiles of the steepest slopes against the edge's own contrast.

    A step of height h blurred to a width sigma has a largest slope of h / (2.5 sigma):
    the ratio measures the blur whatever the contrast (night) and, because the picture
    was denoised first and only edges whose contrast stands well above the sensor noise
    count, whatever the noise. The contrast is taken per pixel, over a window as wide as
    a strongly blurred edge (EDGE_WINDOW), not over the tile: an edge on a tile's border
    leaves only its tail in the next tile, which then looked steep against its own small
    range (a blurred test card measured as sharp as the sharp one). Fewer than
    MIN_EDGE_TILES edge tiles give 0, "no edge to judge by" (a fine noisy texture, a
    blank wall); the clock's few tiles cannot count.
    """
    light = cv2.GaussianBlur(gray, (0, 0), c.SLOPE_SIGMA)
    gx = cv2.Sobel(light, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(light, cv2.CV_32F, 0, 1, ksize=3)
    slope = np.sqrt(gx * gx + gy * gy) / 8.0  # Sobel sums 8 differences
    smooth = _blur(gray, c.DENOISE_SIGMA)
    window = np.ones((c.EDGE_WINDOW, c.EDGE_WINDOW), dtype=np.uint8)
    contrast = cv2.dilate(smooth, window) - cv2.erode(smooth, window)
    least = max(c.EDGE_TILE_RANGE, c.EDGE_NOISE_FACTOR * noise)
    steepness = np.where(contrast >= least, slope / np.maximum(contrast, 1.0), 0.0)
    steep = np.percentile(_tiles(steepness.astype(np.float32)), 98, axis=(2, 3))
    edges = keep & (tile_range >= least)
    if edges.sum() < c.MIN_EDGE_TILES:
        return 0.0
    return float(np.median(steep[edges]))


def _blur(image: Floats, sigma: float) -> Floats:
    return np.asarray(cv2.GaussianBlur(image, (0, 0), sigma), dtype=np.float32)


def _frame_stats(frame: Frame, keep: Mask) -> tuple[float, ...]:
    gray = _gray(frame).astype(np.float32)
    smooth = _blur(gray, c.DENOISE_SIGMA)
    tiles = _tiles(smooth)
    tile_std = tiles.std(axis=(2, 3))[keep]
    low, high = np.percentile(tiles, [5, 95], axis=(2, 3))
    tile_range = np.asarray(high - low, dtype=np.float32)
    # Texture is what a coarser blur removes: shading (a vignette, a hand's curve) is not.
    texture = _tiles(smooth - _blur(smooth, c.TEXTURE_SIGMA)).std(axis=(2, 3))[keep]
    used = _tiles(gray)[keep].ravel()
    p10, p90 = np.percentile(used, [10, 90])
    return (
        float(used.mean()),
        float(p10),
        float(p90),
        float((used >= c.CLIPPED_LUMA).mean()),
        float(np.percentile(tile_std, c.DETAIL_PERCENTILE)),
        float(np.percentile(tile_range[keep], c.DETAIL_PERCENTILE)),
        float((texture < c.TEXTURED_TILE_STD).mean()),
        _sharpness(gray, tile_range, keep, _noise_sigma(gray)),
        _chroma(frame),
    )


def _changes(frames: Sequence[Frame], keep: Mask) -> tuple[float, float, frozenset[int]]:
    """Largest share of changed tiles, the median tile change, and the changed tiles.

    The share catches motion; the median tile change is the sensor's temporal noise,
    which a live camera has everywhere and a frozen one (even re-encoded) has not; the
    changed tiles tell the camera's own OSD (always the same) from a moving object.
    """
    if len(frames) < 2:
        return 1.0, c.NO_NOISE_KNOWN, frozenset()
    shares, noise = [], []
    changed = np.zeros((c.TILE_ROWS, c.TILE_COLUMNS), dtype=bool)
    for before, after in itertools.pairwise(frames):
        diff = np.abs(_gray(after).astype(np.float32) - _gray(before).astype(np.float32))
        tile_diff = _tiles(diff).mean(axis=(2, 3))
        moved = keep & (tile_diff > c.FROZEN_TILE_DIFF)
        changed |= moved
        shares.append(float(moved[keep].mean()))
        noise.append(float(np.median(tile_diff[keep])))
    tiles = frozenset(int(i) for i in np.flatnonzero(changed))
    return max(shares), float(np.median(noise)), tiles


def _tile_noise(gray: Floats) -> Floats:
    """Sensor noise per tile (Immerkaer's estimate)."""
    response = np.abs(cv2.filter2D(gray, cv2.CV_32F, _NOISE_MASK))
    return np.asarray(np.sqrt(np.pi / 2.0) * _tiles(response).mean(axis=(2, 3)) / 6.0)


def _key_noise_ratio(frames: Sequence[Frame], keep: Mask) -> float:
    """Whether consecutive keyframes hold new noise (~1) or repeat one picture (below).

    Per tile, the noise of the difference against that of two independent draws,
    sqrt(a^2 + b^2); the median over tiles, then over pairs. The noise estimate is blind
    to edges and ramps, so a re-coded frozen picture, whose keyframes differ by coding
    error on its edges, still measures low, and a live camera whose encoder removed most
    of the noise still measures ~1 on what is left (docs/design/validation.md, inv. 15).
    """
    grey = [_gray(f).astype(np.float32) for f in frames]
    ratios = []
    for before, after in itertools.pairwise(grey):
        both = np.sqrt(_tile_noise(before) ** 2 + _tile_noise(after) ** 2)
        ratio = _tile_noise(after - before) / np.maximum(both, c.NOISE_FLOOR)
        ratios.append(float(np.median(ratio[keep])))
    return float(np.median(ratios)) if ratios else c.NO_NOISE_KNOWN


def _run_changes(run: Sequence[Frame], keep: Mask) -> tuple[float, float, frozenset[int]]:
    """Motion and noise in the run (the last frames of a GOP, consecutive; invariant 14).

    Noise: the median over consecutive pairs of the 75th percentile of the tile change.
    A frozen picture re-encoded by a capped encoder changes at every keyframe (each is
    coded anew) and in the P-frames right after it (the encoder refines it), but by the
    end of the GOP its frames repeat; a live sensor's noise still changes every frame.
    Motion: the tiles changed between the run's first and last frame (a slow object moves
    a few pixels in that time; a clock may or may not tick).
    """
    grey = [_gray(f).astype(np.float32) for f in run]
    noise = [
        float(np.percentile(_tiles(np.abs(b - a)).mean(axis=(2, 3))[keep], c.RUN_NOISE_PERCENTILE))
        for a, b in itertools.pairwise(grey)
    ]
    moved = keep & (_tiles(np.abs(grey[-1] - grey[0])).mean(axis=(2, 3)) > c.FROZEN_TILE_DIFF)
    tiles = frozenset(int(i) for i in np.flatnonzero(moved))
    return float(moved[keep].mean()), float(np.median(noise)), tiles


def _shows_keyframes(last: Frame, frames: Sequence[Frame], keep: Mask) -> bool:
    """Whether the run shows the keyframes' picture (invariant 14).

    A picture that changed during the sample (black, then live again) gives a run of one
    picture and keyframes of another: the run then says nothing about the camera now.
    A frozen picture re-encoded differs from its run only by coding noise.
    """
    grey = _gray(last).astype(np.float32)
    for frame in frames:
        diff = _tiles(np.abs(_gray(frame).astype(np.float32) - grey)).mean(axis=(2, 3))
        if (diff[keep] > c.RUN_OTHER_PICTURE_DIFF).mean() >= c.FROZEN_MAX_CHANGED:
            return False
    return True


def measure(
    frames: Sequence[Frame], regions: Sequence[Region] = (), run: Sequence[Frame] = ()
) -> FrameStats:
    """Measure the statistics every check uses; `frames` must not be empty."""
    keep = tile_mask(frames[0].shape, regions)
    per_frame = np.array([_frame_stats(frame, keep) for frame in frames])
    mean, p10, p90, clipped, detail, spread, flat, sharpness, chroma = (
        round(float(v), 4) for v in np.median(per_frame, axis=0)
    )
    changed, noise, changed_tiles = _changes(frames, keep)
    usable = len(run) >= 2 and _shows_keyframes(run[-1], frames, keep)
    run_share, run_noise, run_tiles = _run_changes(run, keep) if usable else (None,) * 3
    return FrameStats(
        mean,
        p10,
        p90,
        clipped,
        detail,
        spread,
        flat,
        sharpness,
        chroma,
        round(changed, 4),
        round(noise, 4),
        changed_tiles,
        None if run_noise is None else round(run_noise, 4),
        None if run_share is None else round(run_share, 4),
        run_tiles or frozenset(),
        round(_key_noise_ratio(frames, keep), 4),
    )


def _brightness(stats: FrameStats) -> str:
    return f"mean brightness {stats.mean:.0f}, detail {stats.detail:.1f}"


def check_black(stats: FrameStats) -> CheckResult:
    """Black or no signal: dark and without any structure (an OSD may stay bright)."""
    values = {
        "p90_luma": round(stats.p90, 1),
        "spread": round(stats.spread, 2),
        "mode": str(stats.mode),
    }
    if stats.p90 < c.BLACK_P90_LUMA and stats.spread < c.BLACK_MAX_SPREAD:
        reason = (
            f"picture is black: 90% of pixels below luma {stats.p90:.0f}"
            f" (< {c.BLACK_P90_LUMA:.0f}) and no structure (spread {stats.spread:.1f}"
            f" < {c.BLACK_MAX_SPREAD:.0f}): no video signal"
        )
        return CheckResult(Check.BLACK, Status.FAIL, reason, values, "black")
    return CheckResult(Check.BLACK, Status.OK, "", values)


def _relative_contrast(stats: FrameStats) -> float:
    """Structure against brightness: an underexposed scene keeps it, a cover has none."""
    return stats.spread / max(stats.mean, 1.0)


def _featureless(stats: FrameStats) -> bool:
    """Mostly without texture and with little contrast for its brightness: a cover.

    Flatness alone is not enough (a smooth scene, an underexposed one); a hand or tape
    in front of the lens is also even, so its structure is small for its brightness.
    """
    return (
        stats.flat_share >= c.COVERED_FLAT_SHARE
        and _relative_contrast(stats) < c.COVERED_MAX_CONTRAST
    )


def _too_dark(stats: FrameStats, baseline: Baseline | None) -> bool:
    """Dim and without detail; with a baseline of this mode, also far below its detail.

    A blurred night picture loses some detail too: it is too dark only when most of the
    detail the camera usually has in this mode is gone.
    """
    if stats.mean >= c.DARK_MEAN_LUMA or stats.detail >= c.DARK_MIN_DETAIL:
        return False
    if _featureless(stats):
        return False  # something is in front of the lens: the covered check says so
    return baseline is None or stats.detail < c.DARK_DETAIL_RATIO * baseline.detail


def check_exposure(stats: FrameStats, baseline: Baseline | None = None) -> CheckResult:
    """Too dark (dim and without detail), or washed out (clipped, or bright and flat).

    Not by mean brightness alone: a bright healthy scene (a tree against the sky, a white
    building) is as bright as an over-exposed one (docs/design/validation.md, blind4).
    """
    values = {
        "mean_luma": round(stats.mean, 1),
        "p10_luma": round(stats.p10, 1),
        "p90_luma": round(stats.p90, 1),
        "clipped_share": round(stats.clipped, 3),
        "detail": round(stats.detail, 2),
        "mode": str(stats.mode),
    }
    if _too_dark(stats, baseline):
        reason = (
            f"picture too dark: {_brightness(stats)} (dim below {c.DARK_MEAN_LUMA:.0f}"
            f" needs detail {c.DARK_MIN_DETAIL:.0f}): check IR lighting or exposure"
        )
        return CheckResult(Check.EXPOSURE, Status.FAIL, reason, values, "too dark")
    if stats.clipped >= c.WASHED_CLIPPED_SHARE:
        reason = (
            f"picture washed out: {stats.clipped:.0%} of it clipped to white"
            f" (>= {c.WASHED_CLIPPED_SHARE:.0%}): overexposed or glare"
        )
        return CheckResult(Check.EXPOSURE, Status.FAIL, reason, values, "washed out")
    spread = stats.p90 - stats.p10
    if stats.p10 > c.WASHED_P10_LUMA and spread < c.WASHED_MAX_SPREAD:
        reason = (
            f"picture washed out: darkest 10% at luma {stats.p10:.0f}"
            f" (> {c.WASHED_P10_LUMA:.0f}) and contrast {spread:.0f}"
            f" (< {c.WASHED_MAX_SPREAD:.0f}): fog, glare or a dirty dome"
        )
        return CheckResult(Check.EXPOSURE, Status.FAIL, reason, values, "washed out")
    if stats.mean < c.DARK_MEAN_LUMA:
        reason = f"{_brightness(stats)}: {stats.mode} scene, not too dark"
        return CheckResult(Check.EXPOSURE, Status.OK, reason, values)
    return CheckResult(Check.EXPOSURE, Status.OK, "", values)


def check_covered(stats: FrameStats, baseline: Baseline | None) -> CheckResult:
    """Covered or tampered: most of the picture flat, or its detail gone against the baseline."""
    values: dict[str, float | str | None] = {
        "detail": round(stats.detail, 2),
        "flat_share": round(stats.flat_share, 3),
        "baseline_detail": round(baseline.detail, 2) if baseline else None,
        "mode": str(stats.mode),
    }
    lost = False
    if baseline is not None and baseline.detail > 0:
        ratio = stats.detail / baseline.detail
        values["detail_ratio"] = round(ratio, 3)
        # Lost detail alone may be a strong blur of a fine texture; covered is also flat.
        lost = ratio < c.COVERED_DETAIL_RATIO and stats.flat_share >= c.COVERED_MIN_FLAT_SHARE
    values["relative_contrast"] = round(_relative_contrast(stats), 3)
    if lost or _featureless(stats):
        reason = (
            f"picture lost its detail: {stats.flat_share:.0%} of it flat"
            f" (covered from {c.COVERED_FLAT_SHARE:.0%}), contrast"
            f" {_relative_contrast(stats):.2f} of its brightness"
            f" (< {c.COVERED_MAX_CONTRAST:.2f}), detail {stats.detail:.1f}"
            f"{_against(baseline.detail if baseline else None)}: lens covered, sprayed or"
            " camera turned to a wall"
        )
        return CheckResult(Check.COVERED, Status.FAIL, reason, values, "covered")
    return CheckResult(Check.COVERED, Status.OK, "", values)


def _against(usual: float | None) -> str:
    return f" (usually {usual:.1f})" if usual else ""


def check_blur(stats: FrameStats, baseline: Baseline | None) -> CheckResult:
    """Blurred or out of focus: edge steepness, absolute and against the camera's baseline."""
    values: dict[str, float | str | None] = {
        "sharpness": round(stats.sharpness, 4),
        "baseline_sharpness": round(baseline.sharpness, 4) if baseline else None,
        "mode": str(stats.mode),
    }
    usual = baseline.sharpness if baseline is not None else 0.0
    if stats.sharpness <= 0 and usual <= 0:
        # Texture but no edge to measure (fine noisy texture, a blank wall): no verdict.
        return CheckResult(Check.BLUR, Status.OK, "no edge to judge sharpness by", values)
    if stats.sharpness < c.BLUR_ABS_SHARPNESS:
        reason = (
            f"picture blurred: sharpness {stats.sharpness:.3f} < {c.BLUR_ABS_SHARPNESS:.3f}"
            f"{_against(baseline.sharpness if baseline else None)}: focus or dirty lens"
        )
        return CheckResult(Check.BLUR, Status.FAIL, reason, values, "blurred")
    if baseline is None or baseline.sharpness <= 0:
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
        f"picture blurred: sharpness {stats.sharpness:.3f}, {ratio:.0%} of its usual"
        f" {baseline.sharpness:.3f} (fails below {c.BLUR_FAIL_RATIO:.0%}): out of focus,"
        " dirty or fogged lens"
    )
    return CheckResult(Check.BLUR, status, reason, values, "blurred")


def _stillness(stats: FrameStats) -> list[tuple[str, float, float, float]]:
    """The evidence for a frozen picture: (where, changed share, noise, its limit).

    From the run (invariant 14) when the sample has one, and between keyframes: either
    may show the picture frozen. A capped encoder codes a frozen picture anew at every
    keyframe (keyframes differ, the run's end repeats); another refines it through the
    whole GOP (the run changes, keyframes repeat exactly).
    """
    evidence = []
    if stats.run_noise is not None and stats.run_changed_share is not None:
        run = ("frame to frame", stats.run_changed_share, stats.run_noise, c.FROZEN_MAX_RUN_NOISE)
        evidence.append(run)
    keyframes = ("keyframe to keyframe", stats.changed_share, stats.temporal_noise)
    evidence.append((*keyframes, c.FROZEN_MAX_NOISE))
    return evidence


def check_frozen(
    stats: FrameStats, frames: int, seconds: float, baseline: Baseline | None = None
) -> CheckResult:
    """Frozen: no motion and no sensor noise over the sample, apart from a small overlay.

    With a baseline, the tiles that changed in every one of its checks are the camera's
    OSD: a change anywhere else, in the run or between keyframes (a small object crossing
    a still car park), is life.
    """
    elsewhere = _outside_osd(stats.run_changed_tiles | stats.changed_tiles, baseline)
    values: dict[str, float | int | None] = {
        "changed_share": round(stats.changed_share, 3),
        "temporal_noise": round(stats.temporal_noise, 3),
        "run_changed_share": stats.run_changed_share,
        "run_noise": stats.run_noise,
        "changed_outside_osd": elsewhere,
        "key_noise_ratio": stats.key_noise_ratio,
        "frames": frames,
    }
    if frames < c.MIN_FRAMES_FOR_FREEZE:
        reason = f"only {frames} frame(s) in {seconds:.0f} s: cannot tell whether frozen"
        return CheckResult(Check.FROZEN, Status.WARN, reason, values, "too few frames")
    if stats.key_noise_ratio >= c.FROZEN_MAX_KEY_NOISE_RATIO:
        return CheckResult(Check.FROZEN, Status.OK, "", values)  # new noise: a live sensor
    for where, share, noise, limit in _stillness(stats):
        if share < c.FROZEN_MAX_CHANGED and elsewhere == 0 and noise < limit:
            reason = (
                f"picture frozen: {share:.0%} of it changed in {seconds:.0f} s"
                f" (< {c.FROZEN_MAX_CHANGED:.0%}), sensor noise {where} {noise:.3f}"
                f" (< {limit:.3f}) and keyframes repeat one picture (new noise"
                f" {stats.key_noise_ratio:.2f} < {c.FROZEN_MAX_KEY_NOISE_RATIO:.2f}):"
                " a running clock alone does not count"
            )
            return CheckResult(Check.FROZEN, Status.FAIL, reason, values, "frozen")
    return CheckResult(Check.FROZEN, Status.OK, "", values)


def _outside_osd(moved: frozenset[int], baseline: Baseline | None) -> int:
    """How many of the `moved` tiles lie outside the baseline's OSD; 0 without an OSD."""
    overlay = baseline.overlay if baseline is not None else frozenset()
    return len(moved - _beside(overlay)) if overlay else 0


def _beside(tiles: frozenset[int]) -> frozenset[int]:
    """The tiles and their left and right neighbours: a clock's digits change in width."""
    grown = set(tiles)
    for tile in tiles:
        column = tile % c.TILE_COLUMNS
        grown.update(tile + step for step in (-1, 1) if 0 <= column + step < c.TILE_COLUMNS)
    return frozenset(grown)


def analyse(
    frames: Sequence[Frame],
    baselines: Mapping[Mode, Baseline],
    regions: Sequence[Region] = (),
    seconds: float = 0.0,
    run: Sequence[Frame] = (),
    stats: FrameStats | None = None,
) -> tuple[list[CheckResult], FrameStats]:
    """Run the picture checks in order; a failed check hides those it makes meaningless.

    A black picture is only reported black; a badly exposed one only as such (blur and
    detail measures are unreliable there); a covered one is not also called blurred or
    frozen. Of the camera's `baselines`, the one of the picture's mode is used; none
    while the camera has not been seen in this mode (invariant 11), except that a
    covered picture is also compared with the least detailed mode. `stats`: already
    measured on these frames, when there is no run (`run_needed`).
    """
    stats = stats if stats is not None else measure(frames, regions, run)
    baseline = baselines.get(stats.mode)
    gates: tuple[Callable[[], CheckResult], ...] = (
        lambda: check_black(stats),
        lambda: check_exposure(stats, baseline),
        lambda: check_covered(stats, baseline or _least_detailed(baselines)),
    )
    results: list[CheckResult] = []
    for gate in gates:
        results.append(gate())
        if results[-1].status is Status.FAIL:
            return results, stats
    results.append(check_blur(stats, baseline))
    results.append(check_frozen(stats, len(frames), seconds, baseline))
    return results, stats


def run_needed(stats: FrameStats, baselines: Mapping[Mode, Baseline], frames: int) -> bool:
    """Whether the run (invariant 14) could change this check or what it teaches.

    `stats` are measured on the keyframes alone. Only two things read the run: learning a
    baseline (its OSD tiles) and `check_frozen`, which passes whatever the run shows when
    the keyframes hold new noise (invariant 15) or, with an OSD learned, changed outside it
    (a moving object), and warns when too few frames came. Then decoding the run's GOP
    changes no verdict (invariant 16).
    """
    baseline = baselines.get(stats.mode)
    if baseline is None or baseline.samples < c.BASELINE_SAMPLES:
        return True
    decided = (
        frames < c.MIN_FRAMES_FOR_FREEZE
        or stats.key_noise_ratio >= c.FROZEN_MAX_KEY_NOISE_RATIO
        or _outside_osd(stats.changed_tiles, baseline) > 0
    )
    return not decided


def _least_detailed(baselines: Mapping[Mode, Baseline]) -> Baseline | None:
    """The baseline with the least detail, for the covered check.

    A cover changes the mode (a hand is dim and warm), but a covered picture has lost
    detail against every mode the camera was seen in.
    """
    return min(baselines.values(), key=lambda b: b.detail, default=None)


def shows_scene(results: Sequence[CheckResult]) -> bool:
    """Whether a check's picture can teach a baseline: not black, badly exposed or covered.

    Blur and frozen verdicts do not matter (invariant 12): a camera must learn its
    baseline even when the absolute checks complain about its first pictures.
    """
    gates = (Check.BLACK, Check.EXPOSURE, Check.COVERED)
    return not any(r.check in gates and r.status is Status.FAIL for r in results)


def learn(baseline: Baseline | None, stats: FrameStats) -> Baseline | None:
    """The baseline of the picture's mode after one more check, or None when complete."""
    # The OSD: what changed between keyframes (the seconds) or within the run (a clock
    # with finer digits), in every check.
    changed = stats.changed_tiles | stats.run_changed_tiles
    if baseline is None:
        return Baseline(stats.sharpness, stats.detail, 1, stats.mode, changed)
    if baseline.samples >= c.BASELINE_SAMPLES:
        return None
    n = baseline.samples
    return Baseline(
        (baseline.sharpness * n + stats.sharpness) / (n + 1),
        (baseline.detail * n + stats.detail) / (n + 1),
        n + 1,
        baseline.mode,
        baseline.overlay & changed,
    )
