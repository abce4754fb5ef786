"""nvr-uplink's intervals, bounds and wire names, in one place (docs/design/outbox.md)."""

from __future__ import annotations

ENVELOPE_SCHEMA = 1

# Report kinds and their overflow priority: the lowest goes first when the outbox is full.
KIND_STATUS = "status"
KIND_EVENT = "event"
KIND_ALARM = "alarm"
KIND_DAILY_SUMMARY = "daily_summary"
PRIORITY = {KIND_STATUS: 10, KIND_EVENT: 20, KIND_ALARM: 30, KIND_DAILY_SUMMARY: 40}
# Rows at or above this priority are never dropped (daily summaries).
KEPT_PRIORITY = 40
# After an overflow the outbox is trimmed to this fraction of its bound, so it does not
# drop again at the very next report.
OVERFLOW_TARGET_FRACTION = 0.9
OVERFLOW_EVENT_KIND = "outbox_overflow"

# Destination names (cursor keys, log names).
HEAD_OFFICE = "head_office"
HSE_API = "hse_api"
DISPLAY_NAME = {HEAD_OFFICE: "head office", HSE_API: "HSE"}

# HTTP headers (documented for receivers in docs/design/outbox.md).
HEADER_TIMESTAMP = "X-NVR-Timestamp"
HEADER_SIGNATURE = "X-NVR-Signature"
HEADER_SITE = "X-NVR-Site"
HEADER_IDEMPOTENCY = "Idempotency-Key"
SIGNATURE_PREFIX = "sha256="
# A receiver refuses signatures older or newer than this (replay protection).
REPLAY_WINDOW_SECONDS = 300

# Worker pacing: an idle destination polls the outbox this often.
IDLE_POLL_SECONDS = 0.5
RETRY_JITTER = 0.2
RETRY_FACTOR = 2.0
# A Retry-After longer than this is capped: a misconfigured receiver must not stall a site
# for days.
MAX_RETRY_AFTER_SECONDS = 3_600.0
WORKER_JOIN_SECONDS = 15.0
# The daemon enforces the outbox bound and prunes delivered rows every this many seconds.
MAINTENANCE_SECONDS = 5.0
EVENT_SOURCE = "nvr-uplink"
