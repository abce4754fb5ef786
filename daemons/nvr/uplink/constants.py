"""nvr-uplink's intervals, bounds and wire names, in one place (docs/design/outbox.md)."""

from __future__ import annotations

# After an overflow the outbox is trimmed to this fraction of its bound, so it does not
# drop again at the very next report.
OVERFLOW_TARGET_FRACTION = 0.9
OVERFLOW_EVENT_KIND = "outbox_overflow"

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

HEARTBEAT = "heartbeat"  # the heartbeat service's name (docs/design/hse-edge.md)

# -- Socket.IO to an edge/cloud centre (docs/design/hse-edge.md) ---------------------------
SOCKETIO = "socketio"  # the service's name in the heartbeat detail
SOCKETIO_ORIGIN = "socketio"  # commands.origin of commands that came over it
SOCKETIO_TICK_SECONDS = 0.5
SOCKETIO_CONNECT_SECONDS = 5
SOCKETIO_ACK_SECONDS = 10
SOCKETIO_ALERTS_PER_PASS = 200
# Reconnects: 1 s doubling to 60 s with jitter, like MQTT's (a centre that restarts gets
# all its boxes back within a minute, not all in the same second).
SOCKETIO_RECONNECT_MIN_SECONDS = 1.0
SOCKETIO_RECONNECT_MAX_SECONDS = 60.0

# -- alarm clips (docs/design/hse-edge.md) --------------------------------------------------
EVENT_CLIPS = "event_clips"  # the service's name in the heartbeat detail
# The loop looks for new alarms and advances open clips this often: a clip is ready a
# segment after its range ends, so a second more is nothing, and a pass is a few reads.
EVENT_CLIPS_TICK_SECONDS = 1.0
# Events read per pass (a burst of events is worked through over a few passes).
ALARM_CLIPS_PER_PASS = 500
# On their first start the event readers (alarm clips, Socket.IO alerts) take the events of
# the last few minutes, not all history.
FIRST_LOOK_BACK_MS = 15 * 60 * 1000
# Spool folder of exported alarm clips: spool/alarm_clips/<camera>/<event id>.mp4.
SPOOL_ALARM_CLIPS = "alarm_clips"

# -- MinIO uploads and offsite copy (docs/design/objects.md) -------------------------------
MINIO = "minio"  # the service's name in the heartbeat detail
MINIO_LABEL = "MinIO"
# User metadata holding the file's SHA-256 (header x-amz-meta-sha256): the idempotency check.
SHA256_METADATA = "sha256"
# Short connect timeout: a dead MinIO is noticed at once; a long read timeout: a big part
# on a slow link may take a while to be acknowledged.
MINIO_CONNECT_TIMEOUT_SECONDS = 5.0
MINIO_READ_TIMEOUT_SECONDS = 120.0
# S3 answers about one object that no retry will change: the row is given up as lost.
MINIO_PERMANENT_CODES = frozenset(
    {"EntityTooLarge", "InvalidObjectName", "KeyTooLongError", "InvalidArgument"}
)
# The bandwidth cap's bucket holds this many seconds of the rate: short bursts only.
BANDWIDTH_BURST_SECONDS = 1.0
# Files are read (and the cap applied) in chunks of this size.
UPLOAD_CHUNK_BYTES = 64 * 1024
# An empty queue is looked at this often (a command waits for its clip's row).
UPLOAD_IDLE_SECONDS = 0.5
# The service's slow jobs ride on its loop at these intervals.
UPLOAD_FIGURES_SECONDS = 1.0  # pending count and bytes for STATUS and the heartbeat
OFFSITE_SCAN_SECONDS = 2.0  # queue finished segments of offsite cameras
OFFSITE_SCAN_BATCH = 500  # segments queued per camera and scan
OFFSITE_SWEEP_SECONDS = 5.0  # find queued segments retention deleted first
UPLOADS_PRUNE_SECONDS = 3_600.0
UPLOADS_KEEP_MS = 7 * 86_400_000  # finished rows kept this long (totals stay counted)
OFFSITE_LOST_EVENT_KIND = "offsite_copy_lost"
