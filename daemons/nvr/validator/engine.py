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
from nvr.validator.picture import Baseline, learn
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
    """

    def __init__(
        self,
        store: StateStore,
        state_file: Path,
        tools: Tools,
        images: BucketTarget | None = None,
    ) -> None:
        self._store = store
        self._state_file = state_file
        self._tools = tools
        self.images = images
        self._lock = threading.Lock()
        self.baselines: dict[str, Baseline] = load_baselines(store)
        self.states: dict[str, CameraState] = load_states(store)

    def check(self, camera: CameraConfig, settings: Settings, source: Source) -> Outcome:
        """Check one camera now from `source` (thread safe; writes nothing)."""
        with self._lock:
            baseline = self.baselines.get(camera.id)
        return check_camera(camera, self._tools, settings, baseline, source)

    def record(self, outcome: Outcome) -> CameraState:
        """Store the rows, the snapshot, the baseline; emit an event on a change of state."""
        report = outcome.report
        save_report(self._store, report)
        try:
            snapshot = save_snapshot(self._state_file, report)
        except OSError as err:
            log.warning("camera=%s: snapshot not written: %s", report.camera, err)
            snapshot = None
        self._learn(outcome)
        before = self.states.get(report.camera)
        image = self._queue_image(report, snapshot) if went_bad(report, before) else None
        state = note_change(self._store, report, before, image)
        self.states[report.camera] = state
        log.info(
            "camera=%s %s%s",
            report.camera,
            state.status,
            f": {state.reason}" if state.reason else "",
        )
        return state

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
        """A check where every picture check passed teaches the camera's baseline."""
        if outcome.stats is None or outcome.report.status is not Status.OK:
            return
        camera = outcome.report.camera
        with self._lock:
            updated = learn(self.baselines.get(camera), outcome.stats)
            if updated is None:
                return
            self.baselines[camera] = updated
        save_baseline(self._store, camera, updated)

    @staticmethod
    def cpu_seconds() -> float:
        """CPU used by finished ffprobe/ffmpeg children so far."""
        return children_cpu_seconds()
