"""Named intervals and limits of nvr-hse, in one place (docs/design/hse.md)."""

from __future__ import annotations

DAEMON_NAME = "nvr-hse"

# Routes, as the HSE backend's AI-box registry names them (api_url, alarm_ws_url, webrtc_url).
API = "/api"
ALARM_WS = "/alarm/"
IMAGES = "/alarm-images/"
# WebSocket close code for a refused token (4000-4999 are the application's own).
WS_CLOSE_UNAUTHORIZED = 4401

# How often the server looks for new messages in hse_alarms to push to open sockets.
PUSH_POLL_SECONDS = 0.5
# WebSocket keep-alive: a dead backend connection is noticed within about this long.
WS_HEARTBEAT_SECONDS = 20.0
# Events examined per tick of the feed (a backlog after downtime drains over a few ticks).
FEED_BATCH = 200
# The feed stops taking pictures after this long in one tick (the watchdog wants pings).
FEED_TICK_BUDGET_SECONDS = 5.0
# On the very first start, events older than this are not turned into alarms.
FEED_FIRST_START_MS = 3_600_000

# Ingest: bounds of what a client may post.
INGEST_MAX_BODY_BYTES = 16 * 1024
INGEST_TYPE_MAX = 64
INGEST_DETAILS_MAX_BYTES = 4 * 1024
# A picture is taken from a segment closed at most this many segment lengths ago.
SNAPSHOT_RECENT_SEGMENTS = 3
SNAPSHOT_TIMEOUT_SECONDS = 20
SNAPSHOT_JPEG_QSCALE = 4
# Box-served alarm pictures are kept this long (the replay window's default), unless
# their MinIO upload is still pending (docs/design/hse.md, invariant 8).
IMAGE_KEEP_MS = 86_400_000
# Alarm messages are kept a week (as finished uploads and clips are: nvr-uplink's
# UPLOADS_KEEP_MS), or the replay window if longer, and at most this many once delivered.
ALARMS_KEEP_MS = 7 * 86_400_000
ALARMS_KEEP_ROWS = 50_000
# Retention runs at start and then every this many ticks (10 minutes), deleting at most
# PRUNE_BATCH messages per pass: short write transactions, a backlog goes over a few passes.
PRUNE_EVERY_TICKS = 600
PRUNE_BATCH = 5_000
