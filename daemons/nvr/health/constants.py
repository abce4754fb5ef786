"""Named thresholds and intervals of nvr-health, in one place (docs/design/health.md)."""

from __future__ import annotations

DAEMON_NAME = "nvr-health"
BACKUP_DAEMON = "nvr-backup"
HDDMON_DAEMON = "nvr-hddmon"
UPLINK_DAEMON = "nvr-uplink"

# Frigate's rule for a camera judged by its output: a new segment within
# max(120 s, 2 x segment + 30 s); the 120 s floor is health.camera_stale_seconds.
CAMERA_STALE_SEGMENTS = 2
CAMERA_STALE_SLACK_SECONDS = 30
# A camera whose latest validation is older than this many validation intervals warns.
VALIDATION_STALE_FACTOR = 3

# mediamtx and systemd are probed by the daemon's tick, never by a request (invariant 2).
PROBE_EVERY_TICKS = 5
MEDIAMTX_TIMEOUT_SECONDS = 0.5
MEDIAMTX_PATHS = "/v3/paths/list"
SYSTEMD_RUN_DIR = "/run/systemd/system"
# A probe result older than this is shown as unknown rather than trusted.
PROBE_MAX_AGE_SECONDS = 30.0
# Whether the clock is synchronised is asked of the time service at most this often.
TIME_SYNC_MS = 60_000

# Totals over the whole segment index cost a scan: /metrics refreshes them at most this often.
TOTALS_CACHE_SECONDS = 30.0

# /health, /metrics and the page share one reading of the state file for this long: a
# flood of requests costs one set of queries per second (docs/design/health.md, invariant 4).
REPORT_CACHE_SECONDS = 1.0

# WSGI server threads; requests are read-only and short.
SERVER_THREADS = 8
# Every route is a GET (a login rides in a header): a body of more is answered 413.
MAX_REQUEST_BODY_BYTES = 4 * 1024
