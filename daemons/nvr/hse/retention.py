"""Retention of what nvr-hse keeps: alarm messages, posted events and alarm pictures.

Both grew without bound. A pass on nvr-hse's tick (at start, then every PRUNE_EVERY_TICKS)
deletes what nobody can still need (docs/design/hse.md, invariant 8):

- a message older than the retention (a week, the uploads' and clips' retention, or the
  replay window if longer), or beyond the newest ALARMS_KEEP_ROWS, once every reader has
  it: nvr-uplink's MQTT publisher (when MQTT is configured) and, for the count bound, the
  WebSocket clients without `?since=` (the `ws` cursor). Past the replay window no
  WebSocket client can be sent it any more (replay is bounded by age, invariant 3);
- never a message whose picture is still queued for MinIO, nor an alarm whose clip is
  still being cut or uploaded (its follow-up names the alarm's message);
- an event posted to the ingest API, a week old, once every reader of the events table
  has passed it, no message refers to it and its clip is not open;
- a picture file past IMAGE_KEEP_MS unless its MinIO upload is still pending.
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from nvr.core import alarms
from nvr.core.config import Config
from nvr.core.state import StateStore
from nvr.core.tables.uploads import UploadState
from nvr.hse.constants import (
    ALARMS_KEEP_MS,
    ALARMS_KEEP_ROWS,
    DAEMON_NAME,
    IMAGE_KEEP_MS,
    PRUNE_BATCH,
)
from nvr.hse.snapshot import images_dir

log = logging.getLogger(__name__)

# SQLite's largest integer: "every id" when a reader is not configured.
ANY_ID = 2**63 - 1

# One statement, so the conditions hold in the same snapshot as the delete. A message is
# kept while its picture's upload is pending (the object key is in the message) or its
# alarm's clip is open (alarm_clips rows in `waiting` or `uploading`).
_PRUNE_ALARMS = """
DELETE FROM hse_alarms WHERE id IN (
    SELECT a.id FROM hse_alarms a
    WHERE a.id <= :mqtt
      AND (a.created_at_ms < :before_ms OR (a.id <= :by_count AND a.id <= :ws))
      AND NOT EXISTS (
          SELECT 1 FROM uploads u
          WHERE u.state = :pending
            AND u.bucket || '/' || u.object_key
                = json_extract(a.message_json, '$.minio_image_path'))
      AND NOT EXISTS (
          SELECT 1 FROM alarm_clips c
          WHERE c.event_id = a.event_id AND c.state IN ('waiting', 'uploading'))
    ORDER BY a.id LIMIT :batch)
"""


# The events nvr-hse wrote (posted to the ingest API) once every events reader has them
# (nvr.core.alarms.events_read_by_all), no alarm message refers to them any more and no
# clip of theirs is open. Other daemons' events are theirs to keep. Never the newest row:
# events.id is a plain INTEGER PRIMARY KEY, so SQLite would give its id to the next event,
# which every reader whose cursor stands there would skip.
_PRUNE_POSTED = """
DELETE FROM events WHERE id IN (
    SELECT e.id FROM events e
    WHERE e.created_at_ms < :before_ms AND e.kind = :kind AND e.source = :source
      AND e.id <= :read AND e.id < (SELECT max(id) FROM events)
      AND NOT EXISTS (SELECT 1 FROM hse_alarms a WHERE a.event_id = e.id)
      AND NOT EXISTS (
          SELECT 1 FROM alarm_clips c
          WHERE c.event_id = e.id AND c.state IN ('waiting', 'uploading'))
    ORDER BY e.id LIMIT :batch)
"""


@dataclass(frozen=True)
class Pruned:
    """What one pass deleted."""

    messages: int
    posted: int
    pictures: int


def prune(store: StateStore, config: Config, now_ms: int) -> Pruned:
    """One retention pass: messages first (they hold posted events), then those events."""
    messages = prune_messages(store, config, now_ms)
    posted = prune_posted_events(store, now_ms)
    return Pruned(messages, posted, prune_pictures(store, config, now_ms))


def prune_messages(store: StateStore, config: Config, now_ms: int) -> int:
    """Delete delivered messages past the retention or the count bound; how many."""
    assert config.hse is not None
    keep_ms = max(ALARMS_KEEP_MS, config.hse.replay_max_age_seconds * 1000)
    with store.write() as conn:
        deleted = conn.execute(
            _PRUNE_ALARMS,
            {
                "mqtt": _mqtt_position(conn, config),
                "ws": _read(conn, alarms.WS_CURSOR, default=ANY_ID),
                "before_ms": now_ms - keep_ms,
                "by_count": _newest_beyond(conn, ALARMS_KEEP_ROWS),
                "pending": UploadState.PENDING.value,
                "batch": PRUNE_BATCH,
            },
        ).rowcount
    return int(deleted)


def prune_posted_events(store: StateStore, now_ms: int) -> int:
    """Delete ingest events older than the retention that nobody needs; how many."""
    with store.write() as conn:
        deleted = conn.execute(
            _PRUNE_POSTED,
            {
                "before_ms": now_ms - ALARMS_KEEP_MS,
                "kind": alarms.EXTERNAL_KIND,
                "source": DAEMON_NAME,
                "read": alarms.events_read_by_all(conn),
                "batch": PRUNE_BATCH,
            },
        ).rowcount
    return int(deleted)


def _mqtt_position(conn: sqlite3.Connection, config: Config) -> int:
    """How far MQTT has published: all when MQTT is off, nothing before its first pass."""
    if config.uplink.mqtt is None:
        return ANY_ID
    return _read(conn, alarms.MQTT_CURSOR, default=0)


def _read(conn: sqlite3.Connection, name: str, default: int) -> int:
    position = alarms.read_cursor(conn, name)
    return default if position is None else position


def _newest_beyond(conn: sqlite3.Connection, keep_rows: int) -> int:
    """The id below which messages are more than `keep_rows` behind the newest (0: none)."""
    row = conn.execute(
        "SELECT id FROM hse_alarms ORDER BY id DESC LIMIT 1 OFFSET ?", (keep_rows,)
    ).fetchone()
    return 0 if row is None else int(row[0])


def prune_pictures(store: StateStore, config: Config, now_ms: int) -> int:
    """Delete served pictures older than IMAGE_KEEP_MS whose upload is not pending."""
    directory = images_dir(config.storage.state_file)
    waiting = _pending_pictures(store.read(), directory)
    cutoff_s = (now_ms - IMAGE_KEEP_MS) / 1000
    removed = 0
    for path in directory.glob("*.jpg"):
        if path.name in waiting:
            continue  # MinIO has not got it yet: the upload reads this file
        try:
            if path.stat().st_mtime < cutoff_s:
                path.unlink()
                removed += 1
        except FileNotFoundError:
            continue
    return removed


def _pending_pictures(conn: sqlite3.Connection, directory: Path) -> set[str]:
    rows = conn.execute(
        "SELECT path FROM uploads WHERE state = ? AND path LIKE ?",
        (UploadState.PENDING.value, f"{directory}/%"),
    ).fetchall()
    return {Path(row[0]).name for row in rows}
