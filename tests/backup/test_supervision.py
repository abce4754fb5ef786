"""A camera's supervisor with a clock the test controls: back-off, alerts, stalls, metrics.

The recorder runs in this process with real ffmpeg children and the real RTSP probe; only
time is ours, so the seed design's back-off (30 s, x1.5, capped at 300 s; a warning after
3 failures, critical after 10) is checked in seconds instead of half an hour.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from nvr.backup.child import FfmpegChild
from nvr.backup.recorder import CameraRecorder, CameraState, FinishedSegment
from nvr.core.config import CameraConfig, RecordingConfig
from nvr.core.rtsp import probe
from nvr.core.tables.events import Severity
from nvr.core.tables.recordings import EndReason
from nvr.core.tools import require_tool
from nvr_camsim import CameraSimulator
from nvr_camsim.mediamtx import free_port
from nvrtest import SteppingClock, wait_until

pytestmark = pytest.mark.timeout(180)

# The seed design's delays, before the recorder's +-10 % jitter.
SEED_DELAYS = [30.0, 45.0, 67.5, 101.25, 151.875, 227.8125, 300.0, 300.0, 300.0, 300.0]
JITTER = 0.1


class Hooks:
    """The daemon's side of the recorder, kept in lists for the test to read."""

    def __init__(self) -> None:
        self.ends: list[EndReason] = []
        self.events: list[tuple[Severity, str, str]] = []
        self.segments: list[FinishedSegment] = []

    def start_run(self, camera: str) -> int:
        return len(self.ends) + 1

    def end_run(self, run_id: int, reason: EndReason) -> None:
        self.ends.append(reason)

    def event(self, camera: CameraConfig, severity: Severity, kind: str, message: str) -> None:
        self.events.append((severity, kind, message))

    def segment_closed(self, segment: FinishedSegment) -> None:
        self.segments.append(segment)

    def recover_partial(self, camera: str, since_wall: float, reported: set[str]) -> None:
        pass  # indexing is the daemon's (tests/backup/test_recording.py)

    def learned_transport(self, camera: str, transport: str) -> None:
        pass

    def learned_audio_refusal(self, camera: str, codec: str) -> None:
        pass


class Rig:
    """One CameraRecorder, its hooks, its clock and the ffmpeg children it spawned."""

    def __init__(self, tmp: Path, url: str, pool: ThreadPoolExecutor, **recording: Any):
        self.clock = SteppingClock()
        self.hooks = Hooks()
        self.children: list[FfmpegChild] = []
        self.recorder = CameraRecorder(
            CameraConfig(id="cam01", url=url),
            RecordingConfig(**recording),
            tmp,
            require_tool("ffmpeg"),
            hooks=self.hooks,
            spawn=self._spawn,
            probe=lambda u: probe(u, timeout=1),
            probe_pool=pool,
            clock=self.clock,
        )

    def _spawn(self, argv: list[str], on_segment: Callable[[str, float, float], None]) -> Any:
        self.children.append(FfmpegChild(argv, on_segment, clock=self.clock))
        return self.children[-1]

    def step_until(self, state: CameraState, timeout: float = 30) -> None:
        def reached() -> bool:
            self.recorder.step()
            return self.recorder.state is state

        wait_until(reached, timeout, f"recorder {state}")

    def close(self) -> None:
        self.recorder.stop(EndReason.SHUTDOWN)


@pytest.fixture
def rigs(tmp_path: Path) -> Iterator[Callable[..., Rig]]:
    made: list[Rig] = []
    with ThreadPoolExecutor(2) as pool:

        def make(url: str, **recording: Any) -> Rig:
            made.append(Rig(tmp_path, url, pool, **recording))
            return made[-1]

        yield make
        for rig in made:
            rig.close()


def test_backoff_follows_the_seed_design_and_alerts_at_3_and_10(
    rigs: Callable[..., Rig],
) -> None:
    rig = rigs(f"rtsp://admin:pw@127.0.0.1:{free_port()}/cam01")  # nobody listens
    delays = []
    for _ in SEED_DELAYS:
        rig.clock.now = rig.recorder.next_attempt_at  # wait out the back-off at once
        rig.step_until(CameraState.STARTING)
        rig.step_until(CameraState.WAITING)  # ffmpeg: connection refused
        delays.append(rig.recorder.next_attempt_at - rig.clock.now)
    for delay, seed in zip(delays, SEED_DELAYS, strict=True):
        assert seed * (1 - JITTER) <= delay <= seed * (1 + JITTER), delays
    assert [(sev, kind) for sev, kind, _ in rig.hooks.events] == [
        (Severity.WARNING, "camera_not_recording"),
        (Severity.CRITICAL, "camera_not_recording"),
    ]
    assert "camera offline (3 attempts failed)" in rig.hooks.events[0][2]
    assert "(10 attempts failed)" in rig.hooks.events[1][2]
    assert rig.recorder.detail()["reconnects_per_hour"] == 10


def test_a_stalled_stream_is_restarted_at_once_and_counted(
    rigs: Callable[..., Rig], sim: CameraSimulator
) -> None:
    # socket_timeout above the test's length: the stall rule must act, not ffmpeg's timeout.
    rig = rigs(sim.camera_url("cam01"), stall_seconds=20, socket_timeout_seconds=120)
    rig.step_until(CameraState.RECORDING)
    wait_until(lambda: rig.children[0].fps(), 30, "a measured frame rate")
    publisher = sim.publisher_pid("cam01")
    assert publisher is not None
    os.kill(publisher, signal.SIGSTOP)  # the camera freezes, its TCP session stays open
    try:
        child = rig.children[0]
        rig.clock.now += 1
        # Progress stops once ffmpeg has written what it had buffered.
        wait_until(lambda: _quiet(rig, child), 30, "ffmpeg without progress")
        rig.clock.now += 19.0
        rig.recorder.step()
        assert rig.recorder.state is CameraState.RECORDING, "not before stall_seconds"
        rig.clock.now += 2.0
        rig.recorder.step()
        assert rig.hooks.ends[-1] is EndReason.STALLED
        assert rig.recorder.state is CameraState.WAITING
        # It was recording: retried at once, not after a back-off period.
        assert rig.recorder.next_attempt_at == rig.clock.now
        assert child.poll() is not None, "the stalled ffmpeg was stopped"
    finally:
        os.kill(publisher, signal.SIGCONT)
    rig.step_until(CameraState.RECORDING, 60)
    assert len(rig.children) == 2
    assert rig.recorder.detail()["reconnects_per_hour"] == 1


def _quiet(rig: Rig, child: FfmpegChild) -> bool:
    """True when no progress arrived during a second of real time."""
    time.sleep(1.0)
    return child.last_progress_at < rig.clock.now


def test_measured_fps_bitrate_and_uptime(rigs: Callable[..., Rig], sim: CameraSimulator) -> None:
    rig = rigs(sim.camera_url("cam02"), segment_seconds=2)
    rig.step_until(CameraState.RECORDING)
    started = rig.clock.now
    wait_until(lambda: rig.hooks.segments, 30, "a closed segment")
    # The first progress blocks of a run measure a second or two of video, where one frame
    # more or less is 5 %: wait for the window to fill rather than judge the first sample.
    wait_until(
        lambda: 20 <= (rig.children[0].fps() or 0) <= 30, 60, "the simulator's 25 fps measured"
    )
    rig.clock.now = started + 90
    detail = rig.recorder.detail()
    assert 20 <= detail["fps"] <= 30, detail  # the simulator sends 25 fps
    assert detail["uptime_s"] == 90
    assert detail["bitrate_bps"] and 100_000 < detail["bitrate_bps"] < 5_000_000
    assert detail["reconnects_per_hour"] == 0
