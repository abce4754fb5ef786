"""The supervisor of one camera: start ffmpeg, watch it, decide when to try again.

States: WAITING (for the next attempt) → STARTING (ffmpeg connecting) → RECORDING
(progress seen) → back to WAITING when ffmpeg exits or stalls; STOPPED when the daemon,
the config or the mount guard says so. `step()` is called from the daemon's main loop,
which is also the only thread that forks (PR_SET_PDEATHSIG is tied to the forking thread).
See docs/design/recording.md.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import time
from collections.abc import Callable
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Protocol

from nvr.backup.camera_health import CameraHealth
from nvr.backup.clockstep import ClockStep
from nvr.backup.command import audio_mode, build_command
from nvr.backup.failure import PROBE_REASONS, audio_refused, classify_exit, transport_refused
from nvr.backup.paths import ensure_staging_directory, staged_relative
from nvr.core.backoff import Backoff
from nvr.core.camera_media import CameraMedia
from nvr.core.config import CameraConfig, RecordingConfig, RtspTransport
from nvr.core.redact import SecretUrl
from nvr.core.rtsp import ProbeAnswer, ProbeResult
from nvr.core.tables.events import Severity
from nvr.core.tables.recordings import EndReason

log = logging.getLogger(__name__)

# Run ends that count as reconnects: the camera or ffmpeg failed, not us.
FAILURES = frozenset(
    {
        EndReason.CAMERA_OFFLINE,
        EndReason.AUTH_FAILED,
        EndReason.NOT_FOUND,
        EndReason.STALLED,
        EndReason.FFMPEG_ERROR,
        EndReason.TRANSPORT_REFUSED,
    }
)


class CameraState(StrEnum):
    """What a camera's recorder is doing."""

    STARTING = "starting"
    RECORDING = "recording"
    WAITING = "waiting"
    STOPPED = "stopped"


@dataclass(frozen=True)
class FinishedSegment:
    """A segment ffmpeg has closed (or left behind when it died), to be indexed."""

    camera: str
    path: str  # relative to the recordings directory; a staged file gets its dated name
    end_ms: int  # wall clock when the file was closed: when its last frame arrived
    # None: measured from the file by the indexer (a partial file, or the first segment of
    # a run, whose listed duration also counts the wait for the camera's first keyframe)
    duration_ms: int | None


class Child(Protocol):
    """What the recorder needs of an ffmpeg child (see child.FfmpegChild)."""

    started_at: float
    last_progress_at: float
    progressed: bool

    def poll(self) -> int | None:
        """Exit code, or None while running."""

    def last_lines(self) -> list[str]:
        """The last stderr lines, redacted."""

    def stop(self, grace_seconds: float) -> int:
        """Terminate, wait, kill."""

    def join_readers(self) -> None:
        """Wait until the pipes are drained."""

    def fps(self) -> float | None:
        """Frames per second written lately, None before it is known."""


class Hooks(Protocol):
    """How the recorder talks to the rest of the daemon (state file, indexer, probes)."""

    def start_run(self, camera: str) -> int:
        """Record that an ffmpeg run starts; returns its id."""

    def end_run(self, run_id: int, reason: EndReason, at_ms: int | None = None) -> None:
        """Record why a run ended (at_ms: when, if not now)."""

    def event(self, camera: CameraConfig, severity: Severity, kind: str, message: str) -> None:
        """Tell people (an event row)."""

    def segment_closed(self, segment: FinishedSegment) -> None:
        """Queue a closed segment for indexing."""

    def recover_partial(self, camera: str, run: str, reported: set[str]) -> None:
        """Index the segment a dead ffmpeg of run `run` left unreported."""

    def learned_transport(self, camera: str, transport: str) -> None:
        """Remember the RTSP transport that carried the stream (auto mode)."""

    def learned_audio_refusal(self, camera: str, codec: str) -> None:
        """Remember the audio codec the container refused."""


SpawnFn = Callable[[list[str], Callable[[str, float, float], None]], Child]
ProbeFn = Callable[[SecretUrl], ProbeAnswer]


class CameraRecorder:
    """Records one camera for as long as the daemon wants it recorded."""

    def __init__(
        self,
        camera: CameraConfig,
        recording: RecordingConfig,
        recordings_dir: Path,
        ffmpeg_bin: str,
        hooks: Hooks,
        spawn: SpawnFn,
        probe: ProbeFn,
        probe_pool: Executor,
        learned: CameraMedia | None = None,
        clock: Callable[[], float] = time.monotonic,
        live_url: str | None = None,
    ) -> None:
        self.camera = camera
        self._live_url = live_url  # a single-session camera's live view (liveshare.py)
        self.recording = recording
        self._recordings_dir = recordings_dir
        self._ffmpeg = ffmpeg_bin
        self._hooks = hooks
        self._spawn = spawn
        self._probe = probe
        self._probe_pool = probe_pool
        self._clock = clock
        cfg = recording.backoff
        self._backoff = Backoff(cfg.initial_seconds, cfg.factor, cfg.max_seconds, jitter=0.1)
        self.state = CameraState.WAITING
        self.reason: EndReason | None = None
        self.next_attempt_at = clock()
        self._child: Child | None = None
        self._run_id: int | None = None
        self._run_token = ""
        self._reported: set[str] = set()
        self._ever_recorded = False
        self._alerted: Severity | None = None
        self._learned = learned or CameraMedia(camera.id, None, None)
        # What the state file remembers spares a failed run (and its seconds of video).
        self._audio_refused = self._learned.audio_refused_codec is not None
        if self._audio_refused:
            log.info(
                "camera=%s audio codec %s was refused by the container before; recording with"
                " audio %s",
                camera.id,
                self._learned.audio_refused_codec,
                recording.audio,
            )
        self._auto_transport = (camera.rtsp_transport or recording.rtsp_transport) is (
            RtspTransport.AUTO
        )
        self._transport = self._first_transport(camera, recording)
        self._transports_refused: set[str] = set()
        self._probe_future: Future[ProbeAnswer] | None = None
        self._probe_next_at = 0.0
        self._probe_saw_down = False
        self.last_segment_wall: float | None = None
        self._hold: EndReason | None = None
        self.health = CameraHealth()

    # -- the main loop's entry point -------------------------------------------------
    def step(self) -> None:
        """Advance the state machine by one tick."""
        now = self._clock()
        if self._child is not None:
            self._watch_child(now)
        elif self.state is CameraState.WAITING and self._ready_to_start(now):
            self._start(now)

    def halt_child(self) -> None:
        """Stop ffmpeg (it closes its segment) without touching the state file.

        Safe to call from a worker thread, so a shutdown stops 32 cameras in parallel;
        `stop()` on the main thread then records the end of the run.
        """
        if self._child is not None:
            self._child.stop(self.recording.stop_grace_seconds)

    def stop(self, reason: EndReason) -> None:
        """Stop recording (ffmpeg closes its segment) and remember why."""
        if self._child is not None:
            self._child.stop(self.recording.stop_grace_seconds)
            self._finish_run(reason)
        self.state = CameraState.STOPPED
        self.reason = reason

    def hold(self, reason: EndReason | None, detail: str = "") -> None:
        """Follow the operator's picture policy: pause while held (stopping a running child)."""
        if reason is not None and reason is not self._hold:
            log.warning("camera=%s paused: %s (%s)", self.camera.id, reason, detail)
            self._pause(reason)
        elif reason is None and self._hold is not None:
            log.info("camera=%s no longer paused by the picture policy", self.camera.id)
            self.next_attempt_at = self._clock()
        self._hold = reason

    def _pause(self, reason: EndReason) -> None:
        if self._child is not None:
            self._child.stop(self.recording.stop_grace_seconds)
            self._finish_run(reason)
        elif self.state is CameraState.STOPPED:
            return  # the mount guard stopped it; resume() decides when it may start
        else:
            # Paused before it started (a restart while the verdict stands): a run that
            # ends as it starts, so coverage names the pause rather than "not recording".
            self._hooks.end_run(self._hooks.start_run(self.camera.id), reason)
        self.state = CameraState.WAITING
        self.reason = reason

    def clock_stepped(self, step: ClockStep) -> None:
        """Split the run at a wall-clock step; ffmpeg goes on recording (no gap in the video).

        The old run ends where the clock would have been without the step, the new one
        starts on the new clock, so no run ends before it starts and coverage shows the
        jump as a "clock step" (docs/design/recording.md, invariant 9).
        """
        if self._run_id is None:
            return
        self._hooks.end_run(self._run_id, EndReason.CLOCK_STEP, at_ms=step.expected_ms)
        self._run_id = self._hooks.start_run(self.camera.id)

    def resume(self) -> None:
        """Allow recording again after a stop by the mount guard."""
        if self.state is CameraState.STOPPED:
            self.state = CameraState.WAITING
            self.next_attempt_at = self._clock()

    # -- starting ----------------------------------------------------------------------
    def _first_transport(self, camera: CameraConfig, recording: RecordingConfig) -> str:
        """The configured transport; under auto, what worked last time, else TCP first."""
        if not self._auto_transport:
            return str(camera.rtsp_transport or recording.rtsp_transport)
        return self._learned.rtsp_transport or str(RtspTransport.TCP)

    def _ready_to_start(self, now: float) -> bool:
        if self._hold is not None:
            self.reason = self._hold
            return False
        if now >= self.next_attempt_at:
            return True
        return self._probe_says_back(now)

    def _start(self, now: float) -> None:
        ensure_staging_directory(self._recordings_dir, self.camera.id)
        audio = audio_mode(self.recording.audio, self._audio_refused)
        # A fresh token per run: its file names cannot repeat, whatever the clock does.
        self._run_token = secrets.token_hex(4)
        command = build_command(
            self._ffmpeg,
            self.camera,
            self.recording,
            self._recordings_dir,
            audio,
            self._run_token,
            self._transport,
            self._live_url,
        )
        self._reported = set()
        self._run_id = self._hooks.start_run(self.camera.id)
        self._child = self._spawn(command.argv, self._on_segment)
        self.state = CameraState.STARTING
        log.debug(
            "camera=%s ffmpeg started (audio %s, rtsp over %s)",
            self.camera.id,
            audio,
            self._transport,
        )

    # -- watching ----------------------------------------------------------------------
    def _watch_child(self, now: float) -> None:
        child = self._child
        assert child is not None
        # Before the exit check: a run that recorded and then died was a recording run.
        if self.state is CameraState.STARTING and (child.progressed or self._reported):
            self._on_recording()
        if child.poll() is not None:
            self._on_exit(child)
            return
        if now - child.last_progress_at > self.recording.stall_seconds:
            log.warning(
                "camera=%s no progress for %.0fs: camera stalled or network down; restarting",
                self.camera.id,
                now - child.last_progress_at,
            )
            child.stop(self.recording.stop_grace_seconds)
            self._after_failure(EndReason.STALLED, recorded=child.progressed)

    def _on_recording(self) -> None:
        self.state = CameraState.RECORDING
        self.health.recording(self._clock())
        self._ever_recorded = True
        if self._alerted is not None:
            self._hooks.event(
                self.camera,
                Severity.INFO,
                "camera_recovered",
                f"camera {self.camera.label} recording again after "
                f"{self._backoff.failures} failed attempts ({self.reason})",
            )
        else:
            log.info("camera=%s recording", self.camera.id)
        self._alerted = None
        self._backoff.succeeded()
        self.reason = None
        self._transports_refused.clear()
        if self._auto_transport and self._transport != self._learned.rtsp_transport:
            self._hooks.learned_transport(self.camera.id, self._transport)
            self._learned = CameraMedia(
                self.camera.id, self._transport, self._learned.audio_refused_codec
            )

    def _on_exit(self, child: Child) -> None:
        child.join_readers()
        lines = child.last_lines()
        retry = self._retry_at_once(lines)
        if retry is not None:
            # Neither audio nor the transport may cost video: try again at once.
            self._finish_run(retry)
            self.state = CameraState.WAITING
            self.next_attempt_at = self._clock()
            return
        recorded = child.progressed or bool(self._reported)
        reason = classify_exit(lines, was_recording=recorded or self._ever_recorded)
        if reason is not self.reason:
            log.warning(
                "camera=%s ffmpeg exited: %s; last output: %s",
                self.camera.id,
                reason,
                " | ".join(lines[-3:]) or "(none)",
            )
        self._after_failure(reason, recorded=recorded)

    def _retry_at_once(self, lines: list[str]) -> EndReason | None:
        """The reason of a run that failed on something the next run does differently."""
        if self._retry_without_audio(lines):
            return EndReason.FFMPEG_ERROR
        if self._retry_other_transport(lines):
            return EndReason.TRANSPORT_REFUSED
        return None

    def _retry_without_audio(self, lines: list[str]) -> bool:
        """True when the container refused the audio codec and the policy now applies."""
        codec = None if self._audio_refused else audio_refused(lines)
        if codec is None:
            return False
        log.warning(
            "camera=%s audio codec %s not supported by the container; recording with audio %s",
            self.camera.id,
            codec,
            self.recording.audio,
        )
        self._audio_refused = True
        self._hooks.learned_audio_refusal(self.camera.id, codec)
        return True

    def _retry_other_transport(self, lines: list[str]) -> bool:
        """Under auto, True when the camera refused this transport and the other is untried."""
        if not (self._auto_transport and transport_refused(lines)):
            return False
        self._transports_refused.add(self._transport)
        untried = {str(RtspTransport.TCP), str(RtspTransport.UDP)} - self._transports_refused
        if not untried:
            # Both refused: back off as for any failure, then try both again (a camera
            # being reconfigured may accept one of them by then).
            self._transports_refused.clear()
            return False
        log.warning(
            "camera=%s refuses RTSP over %s (461 Unsupported Transport); trying %s",
            self.camera.id,
            self._transport,
            *untried,
        )
        self._transport = untried.pop()
        return True

    def _after_failure(self, reason: EndReason, recorded: bool) -> None:
        """End the run, index what ffmpeg left behind, schedule the next attempt."""
        self._hooks.recover_partial(self.camera.id, self._run_token, self._reported)
        self._finish_run(reason)
        self.reason = reason
        self.state = CameraState.WAITING
        now = self._clock()
        self._probe_saw_down = False
        self._probe_next_at = now
        if recorded:
            # A camera that was recording gets an immediate retry: a network blip must
            # not cost a whole back-off period of video.
            self._backoff.succeeded()
            self.next_attempt_at = now
            return
        delay = self._backoff.failed()
        self.next_attempt_at = now + delay
        self._maybe_alert(reason, delay)

    def _finish_run(self, reason: EndReason) -> None:
        self.health.ended(self._clock(), failed=reason in FAILURES)
        self._child = None
        if self._run_id is not None:
            self._hooks.end_run(self._run_id, reason)
            self._run_id = None

    def _maybe_alert(self, reason: EndReason, delay: float) -> None:
        failures = self._backoff.failures
        cfg = self.recording.backoff
        severity = None
        if failures == cfg.critical_after_failures:
            severity = Severity.CRITICAL
        elif failures == cfg.warn_after_failures:
            severity = Severity.WARNING
        if severity is None:
            return
        self._alerted = severity
        self._hooks.event(
            self.camera,
            severity,
            "camera_not_recording",
            f"camera {self.camera.label} not recording: {reason} "
            f"({failures} attempts failed); next try in {delay:.0f}s",
        )

    # -- liveness probe ----------------------------------------------------------------
    def _probe_says_back(self, now: float) -> bool:
        """True when a probe sees the camera answer again after it was seen down."""
        future = self._probe_future
        if future is not None:
            if not future.done():
                return False
            self._probe_future = None
            answer = future.result()
            if answer.result is not ProbeResult.OK:
                self._probe_saw_down = True
                self.reason = PROBE_REASONS.get(answer.result, self.reason)
            elif self._probe_saw_down:
                log.info("camera=%s answers again; retrying now", self.camera.id)
                return True
        if now >= self._probe_next_at:
            self._probe_next_at = now + self.recording.liveness_probe_seconds
            self._probe_future = self._probe_pool.submit(self._probe, self.camera.url)
        return False

    # -- segments (called on the child's stdout reader thread) ---------------------------
    def _on_segment(self, name: str, start: float, end: float) -> None:
        closed_at = datetime.now(UTC)
        first_of_run = not self._reported
        self._reported.add(name)
        self.last_segment_wall = closed_at.timestamp()
        duration_ms = round((end - start) * 1000)
        path = staged_relative(self.camera.id, name)
        with contextlib.suppress(OSError):  # gone already: only the bitrate waits
            self.health.segment((self._recordings_dir / path).stat().st_size, duration_ms)
        # Anchor on the close: ffmpeg reports a segment as the next one opens, which is when
        # its last frame arrived. The first segment's listed range starts before the
        # camera's first keyframe arrived, so its duration is measured from the file.
        self._hooks.segment_closed(
            FinishedSegment(
                camera=self.camera.id,
                path=path,
                end_ms=int(closed_at.timestamp() * 1000),
                duration_ms=None if first_of_run else duration_ms,
            )
        )

    # -- reporting ---------------------------------------------------------------------
    def describe(self) -> str:
        """`cam07 camera offline, retry in 45s` for STATUS; empty while recording."""
        if self.state is CameraState.RECORDING:
            return ""
        if self.state is CameraState.WAITING and self.reason is None:
            return f"{self.camera.id} starting"
        if self.state is CameraState.WAITING and self._hold is not None:
            return f"{self.camera.id} {self._hold}"
        if self.state is CameraState.WAITING:
            wait = max(0.0, self.next_attempt_at - self._clock())
            return f"{self.camera.id} {self.reason}, retry in {wait:.0f}s"
        if self.state is CameraState.STOPPED:
            return f"{self.camera.id} stopped ({self.reason})"
        return f"{self.camera.id} {self.state}"

    def detail(self) -> dict[str, object]:
        """Per-camera state for the heartbeat row."""
        return {
            "state": str(self.state),
            "reason": str(self.reason) if self.reason else None,
            "failures": self._backoff.failures,
            "last_segment_at_s": int(self.last_segment_wall) if self.last_segment_wall else None,
            "rtsp_transport": self._transport,
            **self.health.snapshot(self._clock(), self._child.fps() if self._child else None),
        }
