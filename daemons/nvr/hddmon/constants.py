"""Every interval, threshold and size of nvr-hddmon, named in one place.

Values that a site may want to change are candidates for the `disk` config section; until
they are added there they live here (see docs/design/disk.md, "Configuration").
"""

from __future__ import annotations

SOURCE = "nvr-hddmon"

# The work loop ticks fast; the usage check runs every disk.check_interval_seconds, and
# immediately again while a deletion is still under way.
TICK_SECONDS = 1.0
# A tick must return well within the watchdog interval: deletion stops after this much
# time and resumes at the next tick.
DELETE_BUDGET_SECONDS = 2.0
# Rows moved to garbage per transaction. Each transaction holds the write lock for a few
# milliseconds at this size, so nvr-backup's inserts wait at most that long.
DELETE_BATCH_ROWS = 500
# Rows read per query when walking the index oldest-first.
SCAN_BATCH_ROWS = 2_000

# Write rate: bytes of segments that ended within this window, per camera.
RATE_WINDOW_MS = 3_600_000
# A camera that has recorded for less than this is measured over this span, so its first
# segment does not read as an enormous rate.
RATE_MIN_SPAN_MS = 600_000
# Headroom never asks for more than this share of the filesystem to be free: a tiny disk
# with a large headroom_hours would otherwise be emptied completely.
HEADROOM_MAX_FRACTION = 0.5
# The watermark rule starts when the high watermark would be reached within this many check
# intervals at the measured write rate (two: a check can run late on a busy box).
LOOKAHEAD_CHECKS = 2
# The disk's growth rate is measured between looks at least this far apart.
MIN_GROWTH_SPAN_S = 1.0

# Reconcile: a full pass at start-up, then this often; rows are checked in chunks per tick.
RECONCILE_INTERVAL_SECONDS = 600.0
RECONCILE_ROWS_PER_TICK = 20_000
RECONCILE_FOLDERS_PER_TICK = 50
# An orphan file (no row) is left alone for this long: nvr-backup indexes the segment it
# was writing when it died at its own start-up, and a backup stuck in a restart loop for a
# few hours must not lose that segment. Never less than two segment lengths (the segment
# being written right now has no row yet).
ORPHAN_DELETE_AFTER_SECONDS = 6 * 3600
ORPHAN_MIN_SEGMENTS = 2
# Log at most this many individual orphan / missing paths per pass; the rest is counted.
RECONCILE_LOG_LIMIT = 20
# Refuse to mark rows missing when more than this share of a chunk is gone: that is an
# unmounted or replaced disk, not drift, and the rows are the only record of what was there.
MISSING_SANITY_FRACTION = 0.5
MISSING_SANITY_MIN_ROWS = 50

# Segment file names nvr-backup writes: <camera>/<YYYY-MM-DD>/<HH-MM-SS>.<ext>.
SEGMENT_EXTENSIONS = (".mp4", ".ts", ".mkv")

# Disk health.
SMART_INTERVAL_SECONDS = 3600.0
SMART_TIMEOUT_SECONDS = 30.0
SMART_TEMPERATURE_WARN_C = 55
HEALTH_INTERVAL_SECONDS = 60.0
PROBE_FILE = ".nvr-hddmon-probe"
PROBE_BYTES = 4096
# A 4 KiB write + fsync slower than this means a disk retrying sectors or a saturated bus.
PROBE_SLOW_MS = 2_000.0

MS_PER_DAY = 86_400_000
MS_PER_HOUR = 3_600_000
