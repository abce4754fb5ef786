"""The alarm feed: new events become alarm messages in `hse_alarms`, in event order.

Runs on nvr-hse's tick. Its position in the events table is a row of `hse_cursors`,
saved in the transaction that stores the messages, so a kill -9 at any point neither
loses an alarm nor sends one twice (docs/design/hse.md, invariant 2): an event posted to
the ingest API is in the events table before its 2xx, and becomes an alarm on the next
tick after any restart.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nvr.core import alarms
from nvr.core.config import Config
from nvr.core.errors import ConfigError
from nvr.core.state import StateStore, now_ms
from nvr.core.viewer_urls import hse_base
from nvr.hse.constants import (
    FEED_BATCH,
    FEED_FIRST_START_MS,
    FEED_TICK_BUDGET_SECONDS,
    IMAGES,
)
from nvr.hse.snapshot import Upload, take_picture, upload_for

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outgoing:
    """A message to store: its body, the alarm it follows up, the picture to upload."""

    body: dict[str, Any]
    alarm_id: int | None
    upload: Upload | None


class AlarmFeed:
    """Turns events into alarm messages; one pass per tick."""

    def __init__(self, config: Config, store: StateStore) -> None:
        self.config = config
        self.store = store
        self.sent = 0

    def start_position(self) -> int:
        """The saved cursor; on a first start, the events of the last hour are still news."""
        conn = self.store.read()
        saved = alarms.read_cursor(conn, alarms.FEED_CURSOR)
        if saved is not None:
            return saved
        row = conn.execute(
            "SELECT coalesce(max(id), 0) FROM events WHERE created_at_ms < ?",
            (now_ms() - FEED_FIRST_START_MS,),
        ).fetchone()
        return int(row[0])

    def run_once(self) -> int:
        """Turn the next batch of events into messages; returns how many were stored."""
        after = self.start_position()
        rows = (
            self.store.read()
            .execute(
                f"SELECT {alarms.EVENT_COLUMNS} FROM events WHERE id > ? ORDER BY id LIMIT ?",
                (after, FEED_BATCH),
            )
            .fetchall()
        )
        stored = 0
        saved = passed = after  # the cursor as saved; the last event looked at
        deadline = time.monotonic() + FEED_TICK_BUDGET_SECONDS
        for row in rows:
            if time.monotonic() > deadline:
                break  # pictures take time: the rest waits for the next tick (the watchdog)
            event = alarms.event_row(tuple(row))
            outgoing = self._message(event)  # the picture (slow) is taken outside the write
            if outgoing is None:
                passed = event.id
                continue
            # The message, its picture's upload and the cursor commit together (invariant 2).
            with self.store.write() as conn:
                if outgoing.upload is not None:
                    outgoing.upload.enqueue(conn)
                alarms.insert_message(conn, event.id, outgoing.alarm_id, now_ms(), outgoing.body)
                alarms.save_cursor(conn, alarms.FEED_CURSOR, event.id)
            stored += 1
            saved = passed = event.id
        if passed > saved:  # events that are not alarms: one write for the lot
            with self.store.write() as conn:
                alarms.save_cursor(conn, alarms.FEED_CURSOR, passed)
        self.sent += stored
        return stored

    def _message(self, event: alarms.EventRow) -> Outgoing | None:
        """The message `event` becomes, or None when it is not an alarm or a follow-up."""
        if event.kind == alarms.CLIP_KIND:
            return self._follow_up(event)
        kind = alarms.alarm_type(event.kind, event.severity, event.data)
        if kind is None:
            return None
        picture = self._picture(event)
        camera = self.config.camera(event.camera) if event.camera else None
        name = camera.name if camera is not None and camera.name else event.camera
        base = None if picture is None else self._image_base()
        image_url = None if picture is None or base is None else f"{base}{IMAGES}{picture.name}"
        body = alarms.alarm_message(event, kind, name, image_url)
        upload = None
        if picture is not None and body["minio_image_path"] is None:
            # The validator queued its own copy of a bad picture; ours go up otherwise.
            upload = upload_for(self.config, str(event.camera), event.created_at_ms, picture)
            body["minio_image_path"] = None if upload is None else upload.ref.path
        return Outgoing(body, None, upload)

    def _image_base(self) -> str | None:
        """Where the centre fetches alarm pictures: https:// when nvr-hse serves TLS.

        None when nvr-hse listens on every address and the box's own is unknown (no
        public_url, no default route): the alarm goes without its picture's URL rather
        than stopping the feed (its MinIO copy still names it).
        """
        assert self.config.hse is not None
        try:
            return hse_base(self.config, self.config.hse)
        except ConfigError as err:
            log.warning("alarm picture without image_url: %s", err)
            return None

    def _follow_up(self, event: alarms.EventRow) -> Outgoing | None:
        source = event.data.get("alarm_event_id")
        if not isinstance(source, int):
            return None
        alarm_id = alarms.alarm_id_of_event(self.store.read(), source)
        if alarm_id is None:
            log.info("clip of event %d: no alarm was sent for it", source)
            return None
        return Outgoing(alarms.clip_message(event, alarm_id), alarm_id, None)

    def _picture(self, event: alarms.EventRow) -> Path | None:
        """A picture for alarms that show a camera: posted ones and bad pictures."""
        wanted = event.kind in (alarms.EXTERNAL_KIND, alarms.PICTURE_INVALID)
        if not wanted or event.camera is None:
            return None
        try:
            return take_picture(
                self.store,
                self.config,
                event.camera,
                event.id,
                event.created_at_ms,
                from_validator=event.kind == alarms.PICTURE_INVALID,
            )
        except OSError as err:
            log.warning("camera=%s: alarm picture failed: %s", event.camera, err)
            return None
