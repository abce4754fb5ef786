"""nvr-validator: every camera checked on a schedule, a bounded number at a time.

An APScheduler interval job starts a round; the round's checks run in a thread pool of
`validation.workers`, paced to a share of one core; finished checks go through a queue to
the main loop, which alone writes the state file. A camera being recorded is checked from
its last segment; a check the box could not finish is tried again soon.
See docs/design/validation.md.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.schedulers.background import (
    BackgroundScheduler,
)

from nvr.core.config import CameraConfig, Config
from nvr.core.service import Daemon, drain
from nvr.core.state import StateStore, now_ms
from nvr.core.tables.uploads import images_target
from nvr.validator import constants as c
from nvr.validator.checker import Outcome, Settings
from nvr.validator.engine import Engine, default_tools, settings_of
from nvr.validator.pacing import Pacer
from nvr.validator.results import Status
from nvr.validator.source import Source, SourceKind, pick_source

log = logging.getLogger(__name__)

ROUND_JOB = "round"
RECHECK_JOB = "recheck"


class ValidatorDaemon(Daemon):
    """Checks every enabled camera every `validation.interval_seconds`."""

    name = c.DAEMON_NAME
    tick_seconds = 0.5

    def __init__(self, config: Config, store: StateStore, stop_event: threading.Event) -> None:
        super().__init__(config, store, stop_event)
        self._engine = Engine(
            store,
            config.storage.state_file,
            default_tools(stop_event),
            images_target(config),
            config.validation.confirm_checks,
        )
        self._done: queue.Queue[Outcome] = queue.Queue()
        self._pool = ThreadPoolExecutor(config.validation.workers, thread_name_prefix="check")
        self._scheduler = BackgroundScheduler(timezone=UTC)
        self.rounds = 0

    def start(self) -> None:
        """Schedule the rounds; the first starts at once."""
        self._scheduler.start()
        self._schedule()

    def _schedule(self) -> None:
        self._scheduler.add_job(
            self.run_round,
            "interval",
            seconds=self.config.validation.interval_seconds,
            id=ROUND_JOB,
            replace_existing=True,
            max_instances=1,
            coalesce=True,
            next_run_time=datetime.now(UTC),
        )

    def run_round(self) -> None:
        """Check every camera (in the pool) and wait for them; runs in a scheduler thread."""
        self._check_cameras(list(self.config.enabled_cameras))
        self.rounds += 1

    def _recheck(self, camera_id: str) -> None:
        """Check one camera again (the box was busy, or its first segment was not closed)."""
        camera = self.config.camera(camera_id)
        if camera is not None and camera.enabled:
            self._check_cameras([camera])

    def _recheck_later(self, camera_id: str) -> None:
        self._scheduler.add_job(
            self._recheck,
            "date",
            run_date=datetime.now(UTC) + timedelta(seconds=c.RECHECK_SECONDS),
            args=[camera_id],
            id=f"{RECHECK_JOB}-{camera_id}",
            replace_existing=True,
        )

    def _check_cameras(self, cameras: list[CameraConfig]) -> None:
        """Pick each camera's source, check the ones ready, retry the others later.

        Cameras read over RTSP go to the pool (they mostly wait on the network); cameras
        checked from their recordings are CPU work, done one after the other in this
        thread and paced, so the round stays within its share of a core (invariant 10).
        """
        settings = settings_of(self.config)
        # Sources are read in this thread, on a connection of its own (sqlite3 rule).
        with StateStore.open(self.config.storage.state_file) as store:
            now = now_ms()
            sources = {cam.id: pick_source(store.read(), self.config, cam, now) for cam in cameras}
        live = [cam for cam in cameras if sources[cam.id].kind is SourceKind.CAMERA]
        recorded = [cam for cam in cameras if sources[cam.id].kind is SourceKind.RECORDING]
        for camera in cameras:
            if sources[camera.id].kind is SourceKind.WAIT:
                log.debug("camera=%s recording started, no segment yet; later", camera.id)
                self._recheck_later(camera.id)
        futures = [
            self._pool.submit(self._check_one, cam, settings, sources[cam.id]) for cam in live
        ]
        pacer = Pacer(c.CPU_SHARE)
        for camera in recorded:
            pacer.wait(self.stop_event)
            self._check_one(camera, settings, sources[camera.id])
        for future in futures:
            future.result()

    def _check_one(self, camera: CameraConfig, settings: Settings, source: Source) -> None:
        if self.stop_event.is_set():
            return
        try:
            outcome = self._engine.check(camera, settings, source)
        except Exception:
            log.exception("camera=%s: check failed unexpectedly", camera.id)
            return
        if self.stop_event.is_set():
            return  # its tools may have been stopped mid-way: no verdict from that
        self._done.put(outcome)
        if outcome.retry:
            self._recheck_later(camera.id)

    def tick(self) -> None:
        """Record the checks that finished since the last tick."""
        for outcome in drain(self._done):
            if not self.stop_event.is_set() or outcome.report.results:
                self._engine.record(outcome)
                if self._engine.unconfirmed(outcome.report.camera):
                    # A first failure is confirmed soon, not a whole interval later.
                    self._recheck_later(outcome.report.camera)

    def apply_config(self, new: Config) -> None:
        """Take the new camera list at the next round; reschedule when the interval changed."""
        old_interval = self.config.validation.interval_seconds
        self.config = new
        self._engine.images = images_target(new)
        self._engine.confirm_checks = new.validation.confirm_checks
        if new.validation.interval_seconds != old_interval:
            self._schedule()

    def shutdown(self) -> None:
        """Stop the scheduler; running ffmpeg children stop with the stop event."""
        self._scheduler.shutdown(wait=False)
        self._pool.shutdown(wait=True, cancel_futures=True)
        self.tick()

    def status_line(self) -> str:
        """`32 cameras: 30 ok, 1 frozen (cam12), 1 offline (cam07)`."""
        cameras = [cam.id for cam in self.config.enabled_cameras]
        states = self._engine.states
        checked = [cid for cid in cameras if cid in states]
        if not checked:
            return f"{len(cameras)} cameras: first check running"
        ok = sum(states[cid].status is not Status.FAIL for cid in checked)
        bad: dict[str, list[str]] = {}
        for cid in checked:
            if states[cid].status is Status.FAIL:
                bad.setdefault(states[cid].problem or "failing", []).append(cid)
        parts = [f"{ok} ok"] + [f"{len(ids)} {p} ({', '.join(ids)})" for p, ids in bad.items()]
        if len(checked) < len(cameras):
            parts.append(f"{len(cameras) - len(checked)} not checked yet")
        return f"{len(cameras)} cameras: " + ", ".join(parts)

    def heartbeat_detail(self) -> dict[str, Any]:
        """Per camera status and problem, for nvr-health."""
        counts = Counter(str(s.status) for s in self._engine.states.values())
        return {
            "rounds": self.rounds,
            "counts": dict(counts),
            "cameras": {
                cid: {"status": str(s.status), "problem": s.problem}
                for cid, s in self._engine.states.items()
            },
        }
