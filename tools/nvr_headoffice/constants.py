"""Wire names, bounds and intervals of nvr-headoffice, in one place (docs/design/headoffice.md).

The header names and the signature scheme are the contract of docs/design/outbox.md
("Wire protocol"); they are restated here, not imported, because the receiver runs at
head office and must not depend on the on-site daemons' packages.
"""

from __future__ import annotations

PROG = "nvr-headoffice"

# The headers, the signature and the default replay window are nvr.core.signing's, shared
# with the box, so both ends can never disagree.

# The envelope: every key must be there; only these schema versions are understood.
ENVELOPE_KEYS = frozenset({"schema", "id", "site_id", "kind", "created_at", "seq", "body"})
SUPPORTED_SCHEMAS = frozenset({1})
# Report ids are UUIDs (36 characters); anything much longer is not a report id.
MAX_ID_LENGTH = 100
MAX_KIND_LENGTH = 40
# SQLite integers are 64-bit; a seq beyond this is not a sequence number but an attack.
MAX_SEQ = 2**62
KIND_STATUS = "status"
KIND_EVENT = "event"
KIND_ALARM = "alarm"
EVENT_KINDS = (KIND_EVENT, KIND_ALARM)
# An alarm with this event announces reports the site's full outbox dropped
# (docs/design/outbox.md, invariant 5): their seqs are known losses, not lost reports.
OVERFLOW_EVENT = "outbox_overflow"
# An alarm with this event announces seqs a site skipped after restoring its state file
# from a backup (`nvrctl state restore`): known gaps, not lost reports.
STATE_RESTORED_EVENT = "state_restored"

# A site's batch is at most 5,000 reports (uplink.batch_max_reports); a status report of
# 32 cameras is about 20 KB. Larger bodies are refused with 413, and the uplink then
# sends the reports one by one.
MAX_BODY_BYTES = 64 * 1024 * 1024
# X-NVR-Timestamp is Unix seconds: 12 digits reach the year 33658.
MAX_TIMESTAMP_DIGITS = 12

# GET /api/sites lists at most this many gap ranges per site (the count is always exact).
MAX_GAPS_LISTED = 100
# GET /api/sites/<site>/reports: default and largest page.
DEFAULT_REPORTS_LIMIT = 100
MAX_REPORTS_LIMIT = 1_000
# The per-site page shows this many of the latest reports, and of the latest events/alarms.
SITE_PAGE_REPORTS = 100

# The overview page reloads itself this often.
PAGE_REFRESH_SECONDS = 30
# A site silent for longer than this (three 15-minute status intervals) is shown in orange.
SILENT_AFTER_SECONDS = 45 * 60

# The fleet page (and the paged GET /api/sites): sites per page, default and largest.
SITES_PER_PAGE = 50
MAX_SITES_PER_PAGE = 1_000
# Disk use from which the fleet page counts a site under "disk full" (the box's own high
# watermark, disk.high_watermark_percent: above it the box deletes the oldest recordings).
DISK_FULL_PERCENT = 90.0
# A site's page shows each camera's percent recorded per day over this many days.
COVERAGE_DAYS = 30

# SQLite: how long a writer waits for another request's transaction.
BUSY_TIMEOUT_MS = 5_000

# WSGI server threads; a POST holds one for the length of its transaction.
SERVER_THREADS = 8

# PostgreSQL: each serving process keeps a pool of up to one connection per server thread.
PG_POOL_MIN = 1
PG_POOL_MAX = SERVER_THREADS
# Seconds to connect (at start: the one-line error) or to wait for a pooled connection.
PG_CONNECT_TIMEOUT_SECONDS = 10
# pg_advisory_xact_lock key serialising the schema migrations of processes starting at once.
PG_MIGRATION_LOCK = 0x4E56_5248  # "NVRH"
# On SIGTERM, requests in flight get this long to commit and answer.
SERVER_STOP_SECONDS = 5.0

# --workers: the shared listening socket's queue of connections not yet accepted.
LISTEN_BACKLOG = 1_024
# How often the parent reaps dead workers, and a worker checks that its parent lives.
WORKER_CHECK_SECONDS = 1.0
# Past this many restarts within the window, the parent waits before the next one.
WORKER_RESTARTS_PER_WINDOW = 5
WORKER_RESTART_WINDOW_SECONDS = 60
MAX_WORKERS = 64

# Recording coverage over the last hour / 24 h (the box's status report, issue 24): at or
# above GOOD is green, at or above WARN orange, below red. A camera recording all the time
# reaches 100 %: the segment being written is not counted as missing.
COVERAGE_GOOD_PERCENT = 99.0
COVERAGE_WARN_PERCENT = 95.0
# Crashes of one daemon within the box's crash-loop window that the pages call a restart loop
# (the box's own health.crash_loop_count default).
RESTART_LOOP_CRASHES = 3
