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
SNAPSHOT_JPEG_QUALITY = 80
PROBE_ANALYZE_US = 2_000_000  # ffprobe looks at this much of the stream
TOOL_POLL_SECONDS = 0.25  # how often a running ffmpeg is checked against the stop event
TOOL_KILL_WAIT_SECONDS = 3.0
STDERR_TAIL_LINES = 5

# -- the picture is cut into tiles; per-tile statistics are robust to a small overlay -----
TILE_COLUMNS = 16
TILE_ROWS = 9

# -- black / no signal: almost every pixel near black (an OSD may stay bright) -----------
BLACK_P90_LUMA = 30.0
BLACK_SPREAD = 12.0  # p90 - p10 below this too: a uniform picture

# -- exposure --------------------------------------------------------------------------------
DARK_MEAN_LUMA = 45.0  # below: too dark to identify anybody (fail)
DARK_WARN_MEAN_LUMA = 55.0
WASHED_MEAN_LUMA = 200.0  # above, with little contrast: washed out / overexposed
WASHED_P10_LUMA = 150.0

# -- covered / tampered: the picture lost most of its detail against the baseline --------
TEXTURED_TILE_STD = 4.0  # a tile with less spread than this is flat
COVERED_DETAIL_RATIO = 0.3
COVERED_ABS_DETAIL = 2.5  # without a baseline: a picture this flat is covered
COVERED_MIN_FLAT_SHARE = 0.5  # lost detail counts as covered only this flat
COVERED_FLAT_SHARE = 0.9  # ... or when this share of tiles is flat, baseline or not

# -- blur: tile var(Laplacian)/var(luma), median over textured tiles, against baseline ---
BLUR_FAIL_RATIO = 0.45
BLUR_WARN_RATIO = 0.6
BLUR_ABS_SHARPNESS = 0.08  # without a baseline: softer than this is blurred

# -- frozen: share of tiles that change between frames ------------------------------------
FROZEN_TILE_DIFF = 1.5  # mean absolute difference (luma levels) for a tile to count as changed
FROZEN_MAX_CHANGED = 0.15  # an overlay (clock) may cover up to this share of the picture
MIN_FRAMES_FOR_FREEZE = 2

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
