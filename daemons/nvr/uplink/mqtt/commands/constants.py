"""MQTT and command settings of nvr-uplink, in one place (docs/design/commands.md)."""

from __future__ import annotations

# -- MQTT ---------------------------------------------------------------------------------
SERVICE_NAME = "mqtt"
CLIENT_ID = "nvr-{site}"
QOS = 1
# Short enough that the broker notices a dead box (and publishes its last will) within
# 1.5 x this when the TCP connection is not closed cleanly (power cut, cable pulled).
KEEPALIVE_SECONDS = 15
RECONNECT_MIN_SECONDS = 1
RECONNECT_MAX_SECONDS = 60
# QoS 1 messages paho holds while the broker is away (results; status is not queued).
MAX_QUEUED_MESSAGES = 1_000
# How long a clean stop waits for the retained "offline" to be acknowledged.
STOP_PUBLISH_SECONDS = 3.0

TOPIC_ONLINE = "status/{site}"
TOPIC_STATE = "status/{site}/state"
TOPIC_CAMERA = "status/{site}/cameras/{camera}"
TOPIC_CONTROL = "control/{site}"
TOPIC_RESULT = "control/{site}/result"
ONLINE = "online"
OFFLINE = "offline"


# -- commands -----------------------------------------------------------------------------
ORIGIN_MQTT = "mqtt"
GET_STATUS = "get_status"
REQUEST_CLIP = "request_clip"
SNAPSHOT = "snapshot"
ACTIONS = (GET_STATUS, REQUEST_CLIP, SNAPSHOT)

# Command states: the first three are published; "accepted" is also the persisted state of
# a command that is still running.
ACCEPTED = "accepted"
REJECTED = "rejected"
DONE = "done"
FAILED = "failed"

ID_PATTERN = r"[A-Za-z0-9._:-]{1,64}"
# A command is a few hundred bytes; anything far bigger is refused before parsing.
MAX_PAYLOAD_BYTES = 16_384

# The runner wakes at least this often to look at commands waiting for another daemon.
POLL_SECONDS = 0.5
# get_status: nvr-report ticks every second; a minute without an answer means it is down.
REPORT_REQUEST_TIMEOUT_SECONDS = 60
# snapshot: connecting, waiting for a keyframe and writing one JPEG.
SNAPSHOT_TIMEOUT_SECONDS = 20
SNAPSHOT_JPEG_QSCALE = 3  # ffmpeg -q:v for mjpeg, 2 (best) .. 31
# ffmpeg reads 5 s of stream by default before it starts decoding; the SDP and the first
# second hold all a snapshot needs (measured: 5.3 s per snapshot by default, 1.0 s with this).
SNAPSHOT_ANALYZE_US = 1_000_000
# Refusals of unsigned or forged commands reported to head office per minute at most; a
# flood of junk on the control topic must not push real reports out of the outbox.
REFUSAL_REPORTS_PER_MINUTE = 30

# Spool folders (nvr.core.tables.uploads.spool_path:
# `<state dir>/spool/<what>/<camera>/<id>.<ext>`).
SPOOL_CLIPS = "clips"
SPOOL_SNAPSHOTS = "snapshots"
