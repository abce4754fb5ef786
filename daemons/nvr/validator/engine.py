"""Checks a camera and records what it found; shared by the daemon and `nvrctl validate`."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from nvr.core.config import CameraConfig, Config
from nvr.core.state import StateStore
from nvr.core.tables.uploads import BucketTarget, ObjectRef
from nvr.core.tools import require_tool
from nvr.validator.checker import Outcome, Settings, Tools, check_camera
from nvr.validator.media import ToolRunner, children_cpu_seconds
from nvr.validator.picture import Baseline, Mode, learn, shows_scene
from nvr.validator.results import CameraReport, Status
from nvr.validator.source import Source
from nvr.validator.store import (
    CameraState,
    load_baselines,
    load_states,
    note_change,
    save_baseline,
    save_report,
    save_snapshot,
    spool_snapshot,
    went_bad,
)

log = logging.getLogger(__name__)


def settings_of(config: Config) -> Settings:
    """The check settings of a config."""
    section = config.validation
    return Settings(section.timeout_seconds, section.sample_seconds, section.keyframes_only)


def default_tools(stop: threading.Event | None = None) -> Tools:
    """The ffprobe and ffmpeg from PATH (or NVR_*_BIN), run with a stop-aware runner."""
    return Tools(require_tool("ffprobe"), require_tool("ffmpeg"), ToolRunner(stop))


class Engine:
    """Camera checks and their bookkeeping: baselines, states, rows, events, snapshots.

    `check` may run in worker threads; `record` must run in the thread owning `store`.
    `images` (uplink.minio configured) is where bad pictures of camera_invalid events go.
    A failure becomes a camera_invalid event only after `confirm_checks` failing checks
    in a row (invariant 13); `states` is the latest verdict, `announced` the one the
    events last told.
    """

    def __init__(
        self,
        store: StateStore,
        state_file: Path,
        tools: Tools,
        images: BucketTarget | None = None,
        confirm_checks: int = 1,
    ) -> None:
        self._store = store
        self._state_file = state_file
        self._tools = tools
        self.images = images
        self.confirm_checks = confirm_checks
        self._lock = threading.Lock()
        self.baselines: dict[str, dict[Mode, Baseline]] = load_baselines(store)
        self.states: dict[str, CameraState] = load_states(store)
        # After a restart the last rows are taken as told: a restart repeats no event.
        self.announced: dict[str, CameraState] = dict(self.states)
        self._failing: dict[str, int] = {}  # camera -> failing checks in a row

    def check(self, camera: CameraConfig, settings: Settings, source: Source) -> Outcome:
        """Check one camera now from `source` (thread safe; writes nothing)."""
        with self._lock:
            baselines = dict(self.baselines.get(camera.id, {}))
        return check_camera(camera, self._tools, settings, baselines, source)

    def record(self, outcome: Outcome) -> CameraState:
        """Store the rows, the snapshot, the baseline; emit an event on a confirmed change."""
        report = outcome.report
        save_report(self._store, report)
        try:
            snapshot = save_snapshot(self._state_file, report)
        except OSError as err:
            log.warning("camera=%s: snapshot not written: %s", report.camera, err)
            snapshot = None
        self._learn(outcome)
        state = CameraState(report.status, report.problem, report.reason)
        self.states[report.camera] = state
        failing = self._failing.get(report.camera, 0) + 1 if state.status is Status.FAIL else 0
        self._failing[report.camera] = failing
        if self.unconfirmed(report.camera):
            log.info(
                "camera=%s fail (%d of %d checks in a row before an event): %s",
                report.camera,
                failing,
                self.confirm_checks,
                state.reason,
            )
            return state
        before = self.announced.get(report.camera)
        image = self._queue_image(report, snapshot) if went_bad(report, before) else None
        self.announced[report.camera] = note_change(self._store, report, before, image)
        log.info(
            "camera=%s %s%s",
            report.camera,
            state.status,
            f": {state.reason}" if state.reason else "",
        )
        return state

    def unconfirmed(self, camera: str) -> bool:
        """True while a camera fails but not yet in `confirm_checks` checks in a row."""
        return 0 < self._failing.get(camera, 0) < self.confirm_checks

    def _queue_image(self, report: CameraReport, snapshot: Path | None) -> ObjectRef | None:
        """Queue the bad picture for MinIO; None without MinIO, picture or spool space."""
        if self.images is None or snapshot is None:
            return None
        try:
            return spool_snapshot(
                self._store,
                self._state_file,
                self.images,
                report.camera,
                snapshot,
                report.checked_at_ms,
            )
        except OSError as err:
            log.warning("camera=%s: snapshot not queued for MinIO: %s", report.camera, err)
            return None

    def _learn(self, outcome: Outcome) -> None:
        """A check whose picture shows a scene teaches the baseline of its mode.

        Whether the other checks passed does not matter (invariant 12): a night camera
        or a camera blurred from day one must still learn.
        """
        stats = outcome.stats
        if stats is None or not shows_scene(outcome.report.results):
            return
        camera = outcome.report.camera
        with self._lock:
            known = self.baselines.setdefault(camera, {})
            updated = learn(known.get(stats.mode), stats)
            if updated is None:
                return
            known[stats.mode] = updated
        save_baseline(self._store, camera, updated)

    @staticmethod
    def cpu_seconds() -> float:
        """CPU used by finished ffprobe/ffmpeg children so far."""
        return children_cpu_seconds()
