"""nvr-report: scheduled status and daily reports, and event reports as events appear.

APScheduler only says when a report is due (a job puts a word on a queue); the main loop
builds reports, so one thread and one connection touch the state file. See
docs/design/outbox.md.
"""

from __future__ import annotations

import json
import logging
import queue
import sqlite3
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from nvr.core.config import Config
from nvr.core.service import Daemon, drain
from nvr.core.state import StateStore, now_ms
from nvr.core.tables.outbox import append
from nvr.report.build import enqueue_daily, enqueue_status
from nvr.report.coalesce import Coalescer, EventReport, Notice
from nvr.report.constants import EVENT_CURSOR_KEY, STARTS_KEY, VALIDATION_CURSOR_KEY
from nvr.report.sources import (
    failed_validations,
    max_id,
    new_events,
    parse_starts,
    read_state,
    restarts,
    write_state,
)

log = logging.getLogger(__name__)
# APScheduler logs every job run at INFO; our own lines say what was queued.
logging.getLogger("apscheduler").setLevel(logging.WARNING)

STATUS_JOB = "status"
DAILY_JOB = "daily"


class ReportDaemon(Daemon):
    """Turns the state file into reports in the outbox."""

    name = "nvr-report"
    tick_seconds = 1.0

    def __init__(
        self,
        config: Config,
        store: StateStore,
        stop_event: threading.Event,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        super().__init__(config, store, stop_event)
        self._clock = clock
        self._due: queue.SimpleQueue[str] = queue.SimpleQueue()
        self._scheduler = BackgroundScheduler(daemon=True)
        self._coalescer = Coalescer(config.report.event_coalesce_seconds * 1000)
        self._starts: dict[str, int] = {}
        self.queued = 0
        self.last_status_ms: int | None = None

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        """Initialise the cursors (history is not reported on a first start); schedule."""
        with self.store.write() as conn:
            for key, table in (
                (EVENT_CURSOR_KEY, "events"),
                (VALIDATION_CURSOR_KEY, "validations"),
            ):
                if read_state(conn, key) is None:
                    write_state(conn, key, str(max_id(conn, table)))
        self._starts = parse_starts(read_state(self.store.read(), STARTS_KEY)) or {}
        self._schedule(self.config)
        self._scheduler.start()

    def _schedule(self, config: Config) -> None:
        hour, minute = (int(part) for part in config.report.daily_summary_at.split(":"))
        self._scheduler.add_job(
            self._due.put,
            IntervalTrigger(minutes=config.report.status_interval_minutes),
            args=[STATUS_JOB],
            id=STATUS_JOB,
            replace_existing=True,
        )
        self._scheduler.add_job(
            self._due.put,
            CronTrigger(hour=hour, minute=minute),
            args=[DAILY_JOB],
            id=DAILY_JOB,
            replace_existing=True,
        )

    def apply_config(self, new: Config) -> None:
        """Reschedule when the report settings changed."""
        changed = new.report != self.config.report
        self.config = new
        if changed:
            self._coalescer.window_ms = new.report.event_coalesce_seconds * 1000
            self._schedule(new)
            log.info(
                "report schedule changed: status every %d min, daily at %s",
                new.report.status_interval_minutes,
                new.report.daily_summary_at,
            )

    def shutdown(self) -> None:
        """Stop the scheduler; send the held event summaries rather than lose them."""
        self._scheduler.shutdown(wait=False)
        self._enqueue_events(self._coalescer.flush(), {})

    # -- the loop --------------------------------------------------------------------------
    def tick(self) -> None:
        """Scheduled reports that are due, requested ones, then event reports."""
        self._scheduled()
        self._requested()
        self._events()

    def _scheduled(self) -> None:
        for job in drain(self._due):
            if job == STATUS_JOB:
                envelope = enqueue_status(self.store, self.config, self._clock())
                self.last_status_ms = self._clock()
            else:
                envelope = enqueue_daily(self.store, self.config, datetime.now(UTC))
            self.queued += 1
            log.info("queued %s report seq %d", envelope["kind"], envelope["seq"])

    def _requested(self) -> None:
        """Answer every open report request (a `get_status` command) with one status report.

        The requests are marked answered in the report's own transaction, so the asker
        sees the seq of a report that is really in the outbox (docs/design/commands.md).
        """
        open_ids = [
            int(row[0])
            for row in self.store.read().execute(
                "SELECT id FROM report_requests WHERE done_at_ms IS NULL ORDER BY id"
            )
        ]
        if not open_ids:
            return

        def answer(conn: sqlite3.Connection, envelope: dict[str, Any]) -> None:
            conn.executemany(
                "UPDATE report_requests SET report_id = ?, seq = ?, done_at_ms = ?"
                " WHERE id = ? AND done_at_ms IS NULL",
                [(envelope["id"], envelope["seq"], self._clock(), rid) for rid in open_ids],
            )

        envelope = enqueue_status(self.store, self.config, self._clock(), also=answer)
        self.queued += 1
        log.info(
            "queued status report seq %d on request (%d open requests answered)",
            envelope["seq"],
            len(open_ids),
        )

    def _events(self) -> None:
        conn = self.store.read()
        now = self._clock()
        events, event_cursor = new_events(conn, int(read_state(conn, EVENT_CURSOR_KEY) or 0))
        fails, validation_cursor = failed_validations(
            conn, int(read_state(conn, VALIDATION_CURSOR_KEY) or 0)
        )
        beats, self._starts = restarts(conn, self._starts, now)
        reports = self._offer([*events, *fails, *beats], now) + self._coalescer.due(now)
        cursors = {
            EVENT_CURSOR_KEY: str(event_cursor),
            VALIDATION_CURSOR_KEY: str(validation_cursor),
            STARTS_KEY: json.dumps(self._starts),
        }
        self._enqueue_events(reports, cursors)

    def _offer(self, notices: list[Notice], now: int) -> list[EventReport]:
        out = []
        for notice in notices:
            report = self._coalescer.offer(notice, now)
            if report is not None:
                out.append(report)
        return out

    def _enqueue_events(self, reports: list[EventReport], cursors: dict[str, str]) -> None:
        """Reports and the cursors that produced them, in one transaction."""
        if not reports and not self._cursors_moved(cursors):
            return
        names = {camera.id: camera.name for camera in self.config.cameras}
        with self.store.write() as conn:
            for report in reports:
                body = report.body
                if body.get("camera") in names:
                    body["camera_name"] = names[body["camera"]]
                append(conn, self.config.site.id, report.kind, body)
            for key, value in cursors.items():
                write_state(conn, key, value)
        self.queued += len(reports)

    def _cursors_moved(self, cursors: dict[str, str]) -> bool:
        conn = self.store.read()
        return any(read_state(conn, key) != value for key, value in cursors.items())

    # -- status ----------------------------------------------------------------------------
    def status_line(self) -> str:
        """E.g. `12 reports queued; 3 events held for coalescing`."""
        text = f"{self.queued} reports queued"
        if self._coalescer.held:
            text += f"; {self._coalescer.held} events held for coalescing"
        return text

    def heartbeat_detail(self) -> dict[str, Any]:
        """Reports queued since start and events held."""
        return {"queued": self.queued, "held": self._coalescer.held}
