"""nvr-backup: one recorder per camera, an indexer thread, the mount guard, reconcile.

The main loop steps every recorder twice a second; all forking happens there. Config
reloads restart only the cameras whose settings changed. See docs/design/recording.md.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from nvr.backup.child import FfmpegChild
from nvr.backup.clockstep import ClockWatch
from nvr.backup.command import recording_ffmpeg
from nvr.backup.dropouts import note_dropout
from nvr.backup.flush import InProgressSync
from nvr.backup.guard import REMEDY, storage_problem
from nvr.backup.indexer import Indexer
from nvr.backup.liveshare import publish_url
from nvr.backup.reconcile import (
    RECENT_DAYS,
    boot_time_ms,
    camera_directories,
    close_open_runs,
    mark_missing,
    stop_stale_ffmpeg,
    unindexed_files,
)
from nvr.backup.recorder import CameraRecorder, CameraState, FinishedSegment
from nvr.backup.verdicts import fetch_verdicts
from nvr.core.camera_media import read_camera_media, remember_audio_refusal, remember_transport
from nvr.core.config import CameraConfig, Config
from nvr.core.rtsp import probe
from nvr.core.service import Daemon
from nvr.core.state import StateStore, now_ms
from nvr.core.tables.events import Severity, record_event
from nvr.core.tables.recordings import EndReason
from nvr.core.tools import require_tool

log = logging.getLogger(__name__)

PROBE_WORKERS = 8
VERDICT_REFRESH_SECONDS = 10.0
# The in-progress sync loop ends within one fsync once the stop event is set.
STOP_JOIN_SECONDS = 5.0


class BackupDaemon(Daemon):
    """Records every enabled camera."""

    name = "nvr-backup"
    # A dead ffmpeg is restarted at the next tick. Once a second, like the other daemons:
    # at 0.5 s the loop alone cost 1.5 % of recording's CPU floor (docs/design/recording.md).
    tick_seconds = 1.0

    def __init__(self, config: Config, store: StateStore, stop_event: Any) -> None:
        super().__init__(config, store, stop_event)
        self._ffmpeg = recording_ffmpeg()
        self._ffprobe = require_tool("ffprobe")
        self._recorders: dict[str, CameraRecorder] = {}
        self._indexer = Indexer(
            config.storage.state_file, config.storage.recordings_dir, self._ffprobe
        )
        self._probe_pool = ThreadPoolExecutor(PROBE_WORKERS, thread_name_prefix="probe")
        self._blocked: EndReason | None = None
        self._reconciled = False
        self._clock = time.monotonic
        self._verdicts_at = float("-inf")
        self._clock_watch = ClockWatch()
        self._in_progress_sync = InProgressSync(
            config.storage.recordings_dir,
            lambda: [c.id for c in self._wanted(self.config)],
            stop_event,
        )

    @property
    def _recordings_dir(self) -> Path:
        return self.config.storage.recordings_dir

    # -- lifecycle ---------------------------------------------------------------------
    def start(self) -> None:
        """Start the indexer and a recorder per camera (they start ffmpeg on the first tick)."""
        self._indexer.start()
        self._in_progress_sync.start()
        for camera in self._wanted(self.config):
            self._add(camera)

    def tick(self) -> None:
        """Watch the wall clock, apply the mount guard, then step every recorder."""
        self._watch_clock()
        self._apply_guard()
        if self._blocked is None:
            if not self._reconciled:
                # Only on a usable disk: on an unmounted one there is nothing to repair.
                self._reconcile()
                self._reconciled = True
            self._apply_verdicts()
            for recorder in self._recorders.values():
                recorder.step()

    def shutdown(self) -> None:
        """Stop every ffmpeg in parallel (each closes its segment), then finish indexing."""
        with ThreadPoolExecutor(max(1, len(self._recorders))) as pool:
            for recorder in self._recorders.values():
                pool.submit(recorder.halt_child)
        for recorder in self._recorders.values():
            recorder.stop(EndReason.SHUTDOWN)
        self._indexer.close()
        self._in_progress_sync.join(STOP_JOIN_SECONDS)
        self._probe_pool.shutdown(wait=False, cancel_futures=True)
        log.info("all cameras stopped; %d segments indexed this run", self._indexer.indexed)

    def apply_config(self, new: Config) -> None:
        """Start added cameras, stop removed ones, restart changed ones; leave the rest alone."""
        old = {c.id: c for c in self._wanted(self.config)}
        wanted = {c.id: c for c in self._wanted(new)}
        recording_changed = new.recording != self.config.recording
        old_live = self.config.livestream
        self.config = new
        for camera_id in old.keys() - wanted.keys():
            log.info("camera=%s removed from config; stopping", camera_id)
            self._recorders.pop(camera_id).stop(EndReason.CAMERA_REMOVED)
        for camera_id, camera in wanted.items():
            if camera_id not in old:
                log.info("camera=%s added; starting", camera_id)
                self._add(camera)
            elif (
                recording_changed
                or camera != old[camera_id]
                or publish_url(new.livestream, camera) != publish_url(old_live, camera)
            ):
                log.info("camera=%s settings changed; restarting", camera_id)
                self._recorders.pop(camera_id).stop(EndReason.CONFIG_CHANGED)
                self._add(camera)

    # -- steps ---------------------------------------------------------------------------
    @staticmethod
    def _wanted(config: Config) -> list[CameraConfig]:
        return [c for c in config.enabled_cameras if c.record]

    def _add(self, camera: CameraConfig) -> None:
        self._recorders[camera.id] = CameraRecorder(
            camera,
            self.config.recording,
            self._recordings_dir,
            self._ffmpeg,
            hooks=self,
            spawn=lambda argv, on_segment: FfmpegChild(argv, on_segment),
            probe=probe,
            probe_pool=self._probe_pool,
            live_url=publish_url(self.config.livestream, camera),
            learned=read_camera_media(self.store.read(), camera.id),
        )

    def _reconcile(self) -> None:
        stray = stop_stale_ffmpeg(self._recordings_dir)
        orphans = 0
        for camera in camera_directories(self._recordings_dir):
            for segment in unindexed_files(self.store, self._recordings_dir, camera):
                self._indexer.index(self.store, segment)
                orphans += 1
        # After the orphans: a dead run ends where its partial last segment ends, so the
        # coverage gap that follows carries the run's reason ("stopped unexpectedly").
        closed = close_open_runs(self.store, boot_time_ms())
        since_ms = now_ms() - RECENT_DAYS * 86_400_000
        missing = mark_missing(self.store, self._recordings_dir, since_ms)
        log.info(
            "reconcile: %d stray ffmpeg stopped, %d open runs closed, %d files indexed,"
            " %d rows marked missing",
            stray,
            closed,
            orphans,
            missing,
        )

    def _apply_guard(self) -> None:
        problem = storage_problem(self._recordings_dir, self.config.storage.require_mount)
        if problem == self._blocked:
            return
        if problem is not None:
            for recorder in self._recorders.values():
                recorder.stop(problem)
            self._event_all(
                Severity.CRITICAL,
                "recording_blocked",
                f"recording stopped for all cameras: {problem} ({self._recordings_dir});"
                f" {REMEDY[problem]}",
            )
        else:
            self._event_all(
                Severity.INFO, "recording_unblocked", f"{self._recordings_dir} usable again"
            )
            for recorder in self._recorders.values():
                recorder.resume()
        self._blocked = problem

    def _watch_clock(self) -> None:
        """A wall-clock step: one event, and every recording run split at the step."""
        step = self._clock_watch.check()
        if step is None:
            return
        message = step.describe() + "; recording goes on, new segments are named by the new clock"
        log.warning("%s", message)
        self._event_all(Severity.WARNING, "clock_step", message)
        for recorder in self._recorders.values():
            recorder.clock_stepped(step)

    def _apply_verdicts(self) -> None:
        """Every few seconds, pause the cameras the operator's picture policy pauses."""
        now = self._clock()
        if now - self._verdicts_at < VERDICT_REFRESH_SECONDS:
            return
        self._verdicts_at = now
        verdicts = fetch_verdicts(
            self.store.read(),
            now_ms(),
            self.config.validation.interval_seconds,
            self.config.recording.record_when_invalid_picture,
        )
        for camera_id, recorder in self._recorders.items():
            verdict = verdicts.get(camera_id)
            if verdict is None:
                recorder.hold(None)
            else:
                recorder.hold(verdict.reason, verdict.detail)

    def _event_all(self, severity: Severity, kind: str, message: str) -> None:
        record_event(self.store, source=self.name, severity=severity, kind=kind, message=message)

    # -- recorder hooks --------------------------------------------------------------------
    def start_run(self, camera: str) -> int:
        """Open a recording run row."""
        with self.store.write() as conn:
            cursor = conn.execute(
                "INSERT INTO recording_runs (camera, started_at_ms) VALUES (?, ?)",
                (camera, now_ms()),
            )
        return int(cursor.lastrowid or 0)

    def end_run(self, run_id: int, reason: EndReason, at_ms: int | None = None) -> None:
        """Close a run with its reason; never before it started (the clock may have stepped)."""
        with self.store.write() as conn:
            conn.execute(
                "UPDATE recording_runs SET ended_at_ms = max(?, started_at_ms), end_reason = ?"
                " WHERE id = ?",
                (now_ms() if at_ms is None else at_ms, str(reason), run_id),
            )
        note_dropout(self.store, self.name, run_id, reason)

    def event(self, camera: CameraConfig, severity: Severity, kind: str, message: str) -> None:
        """Record a camera event."""
        record_event(
            self.store,
            source=self.name,
            severity=severity,
            kind=kind,
            camera=camera.id,
            message=message,
        )

    def segment_closed(self, segment: FinishedSegment) -> None:
        """Hand a closed segment to the indexer."""
        self._indexer.submit(segment)

    def recover_partial(self, camera: str, run: str, reported: set[str]) -> None:
        """Index the segment a dead ffmpeg was writing."""
        for segment in unindexed_files(
            self.store, self._recordings_dir, camera, run, frozenset(reported)
        ):
            log.info("camera=%s indexing partial segment %s", camera, segment.path)
            self._indexer.submit(segment)

    def learned_transport(self, camera: str, transport: str) -> None:
        """Remember the transport that worked, for the next start and the validator."""
        remember_transport(self.store, camera, transport)

    def learned_audio_refusal(self, camera: str, codec: str) -> None:
        """Remember the refused audio codec, so the next start does not lose video on it."""
        remember_audio_refusal(self.store, camera, codec)

    # -- reporting -----------------------------------------------------------------------
    def status_line(self) -> str:
        """`recording 31/32 cameras; cam07 camera offline, retry in 45s`."""
        if self._blocked is not None:
            return f"NOT RECORDING: {self._blocked} ({self._recordings_dir})"
        recording = sum(r.state is CameraState.RECORDING for r in self._recorders.values())
        line = f"recording {recording}/{len(self._recorders)} cameras"
        problems = [r.describe() for r in self._recorders.values()]
        problems = [p for p in problems if p]
        if problems:
            line += "; " + ", ".join(problems[:4])
            if len(problems) > 4:
                line += f" (+{len(problems) - 4} more)"
        return line

    def heartbeat_detail(self) -> dict[str, Any]:
        """Per-camera state for nvr-health and the reports."""
        return {
            "blocked": str(self._blocked) if self._blocked else None,
            "index_backlog": self._indexer.backlog(),
            "cameras": {cid: r.detail() for cid, r in self._recorders.items()},
        }
