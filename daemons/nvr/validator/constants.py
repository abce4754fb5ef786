"""Every threshold and interval of nvr-validator, in one place.

Luma values are 0-255 (full range gray, as ffmpeg converts the stream's Y plane).
The thresholds were set on the labelled clip set of tests/validator (see
docs/design/validation.md for the precision and recall they give).
"""

from __future__ import annotations

DAEMON_NAME = "nvr-validator"

# -- sampling ------------------------------------------------------------------------------
ANALYSIS_WIDTH = 320  # frames are scaled to this width: enough for every check, cheap
SAMPLE_FPS = 2.0  # frames per second kept when decoding every frame (keyframes_only false)
MAX_FRAMES = 12
# The last frames of the first GOP of a recorded sample, consecutive (invariant 14): enough
# pairs for a median, late enough in the GOP that a capped encoder has stopped refining.
RUN_FRAMES = 8
SNAPSHOT_JPEG_QUALITY = 80
PROBE_ANALYZE_US = 2_000_000  # ffprobe looks at this much of the stream
TOOL_POLL_SECONDS = 0.25  # how often a running ffmpeg is checked against the stop event
TOOL_KILL_WAIT_SECONDS = 3.0
STDERR_TAIL_LINES = 5

# -- the picture is cut into tiles; per-tile statistics are robust to a small overlay -----
TILE_COLUMNS = 16
TILE_ROWS = 9

# -- measures: a light denoise first, so sensor noise is neither detail nor sharpness -------
DENOISE_SIGMA = 1.0  # Gaussian sigma (pixels at ANALYSIS_WIDTH) before detail and edges
SLOPE_SIGMA = 0.5  # lighter denoise for edge slopes: keeps the steepness of a sharp edge
TEXTURE_SIGMA = 3.0  # texture = denoised picture minus this blur of it (band-pass)
CHROMA_PERCENTILE = 90  # of the tile chroma: a few coloured objects make a colour picture
DETAIL_PERCENTILE = 75  # detail is this percentile of the tile std: a clock cannot reach it
CLIPPED_LUMA = 250.0  # a pixel this bright is clipped (over-exposed)
EDGE_TILE_RANGE = 20.0  # a tile whose denoised p95-p5 is this high holds an edge ...
EDGE_NOISE_FACTOR = 6.0  # ... and this many times the sensor noise (sigma)
MIN_EDGE_TILES = 8  # fewer edge tiles (of 144): nothing sharp in the picture
EDGE_WINDOW = 15  # pixels: an edge's contrast is taken over this square, a blurred edge's width
NO_NOISE_KNOWN = 99.0  # temporal noise of a single frame: unknown, never "frozen"

# -- picture mode (one baseline per mode, invariant 11) --------------------------------------
IR_MAX_CHROMA = 3.0  # mean |Cr-128|+|Cb-128| below this: greyscale, the camera is in IR
NIGHT_MEAN_LUMA = 70.0  # a colour picture dimmer than this is a night picture

# -- black / no signal: dark and no structure at all (an OSD may stay bright) --------------
BLACK_P90_LUMA = 30.0
BLACK_MAX_SPREAD = 2.0  # tile p95-p5 (75th percentile over tiles) below this: no structure

# -- exposure: dim is fine while the picture has detail (night, IR) -------------------------
DARK_MEAN_LUMA = 45.0  # dimmer than this needs DARK_MIN_DETAIL to pass
DARK_MIN_DETAIL = 8.0
DARK_DETAIL_RATIO = 0.4  # with a baseline of the mode: too dark only below this share of it
WASHED_CLIPPED_SHARE = 0.3  # this much clipped to white: over-exposed
WASHED_P10_LUMA = 150.0  # darkest 10 % this bright ...
WASHED_MAX_SPREAD = 80.0  # ... with p90 - p10 below this: fog, glare, haze

# -- covered / tampered: the picture lost most of its detail --------------------------------
TEXTURED_TILE_STD = 1.5  # a tile whose band-pass std is below this has no texture
COVERED_DETAIL_RATIO = 0.3  # against the baseline of the same mode
COVERED_MIN_FLAT_SHARE = 0.5  # lost detail counts as covered only this flat
COVERED_FLAT_SHARE = 0.7  # ... or when this share of tiles is flat, baseline or not,
COVERED_MAX_CONTRAST = 0.33  # ... with a spread below this share of the mean brightness

# -- blur: steepest slope against the edge's contrast, median over edge tiles -------------
BLUR_ABS_SHARPNESS = 0.2  # softer than this is blurred, baseline or not
BLUR_FAIL_RATIO = 0.7  # against the baseline of the same mode
BLUR_WARN_RATIO = 0.8

# -- frozen: no motion and no temporal noise -----------------------------------------------
FROZEN_TILE_DIFF = 1.5  # mean absolute difference (luma levels) for a tile to count as changed
FROZEN_MAX_CHANGED = 0.15  # an overlay (clock) may cover up to this share of the picture
FROZEN_MAX_NOISE = 0.5  # median tile change below this: no live sensor behind the picture
# ... measured between consecutive frames at the end of a GOP instead, when the sample has
# a run (invariant 14): a frozen picture's last P-frames repeat it, a live sensor's noise
# still changes (tuning: live 0.006 at the least, on a 300 kbit/s still scene; frozen 0).
FROZEN_MAX_RUN_NOISE = 0.005
RUN_NOISE_PERCENTILE = 75  # of the tile change: the clock and a few coded blocks stay below
# A tile of the run's last frame this far (mean absolute difference) from a keyframe shows
# another picture; from FROZEN_MAX_CHANGED of the tiles on, the run is not the keyframes'
# picture (the camera changed during the sample) and is not used. Re-coding a frozen
# picture moves tiles by 4 levels at most on the tuning set.
RUN_OTHER_PICTURE_DIFF = 10.0
MIN_FRAMES_FOR_FREEZE = 2
# Frozen also needs keyframes that repeat one picture (invariant 15): the noise of their
# difference below this share of two independent draws' noise. Tuning: live 0.77 at the
# least, frozen 0.70 at the most (first checks of a clip apart: the encoder's first
# keyframe is coded differently, 0.83-0.98). An encoder that removed all noise from a
# still scene keeps ~1 on the little noise left (held-out colour chart: 1.08-1.15).
FROZEN_MAX_KEY_NOISE_RATIO = 0.75
NOISE_FLOOR = 0.001  # luma levels: below this a tile has no noise (identical keyframes: 0)

# -- where the picture comes from (docs/design/validation.md, invariants 7-9) --------------
RECORDING_FRESH_MIN_SECONDS = 120  # a recorded camera's newest segment is at most this old
RECHECK_SECONDS = 30.0  # a check the box could not finish, or waiting for a first segment
# A tool that timed out while runnable threads outnumbered the cores by this much timed
# out because of the box, not the camera.
BUSY_LOAD_PER_CORE = 1.0
# Of one core, averaged over a round: the recorder comes first. The target is 0.2 (issue
# 17); the pacer aims lower because the cost of the next check is a guess (the mean so
# far) and the rows of the last ones are written after it (tests/bench/results/validator.md).
CPU_SHARE = 0.15

# -- stream ------------------------------------------------------------------------------
FPS_TOLERANCE = 0.1  # 10 %

# -- baseline ------------------------------------------------------------------------------
BASELINE_SAMPLES = 3  # good checks averaged into a camera's baseline, then it is fixed
