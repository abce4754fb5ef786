"""Where a check reads the picture: what nvr-backup just recorded, or the camera itself.

Many cameras accept one RTSP session, and the recorder holds it. So a camera being
recorded is checked from its last closed segment (the file nvr-backup indexed), without a
session of ours; only a camera that is not being recorded is read over RTSP, with the
transport the recorder uses (docs/design/validation.md, invariants 7 and 8).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from nvr.core.camera_media import reading_transport
from nvr.core.config import CameraConfig, Config
from nvr.core.redact import SecretUrl
from nvr.core.tables.recordings import CONTINUITY_TOLERANCE_MS, latest_segment
from nvr.validator import constants as c


class SourceKind(StrEnum):
    """Where the picture of one check comes from."""

    RECORDING = "recording"  # the last closed segment
    CAMERA = "camera"  # an RTSP session of our own
    WAIT = "wait"  # being recorded, no segment closed yet: check again soon


@dataclass(frozen=True)
class Source:
    """What one check reads: a segment file, or the camera with its transport."""

    kind: SourceKind
    path: Path | None = None  # the segment, for RECORDING
    segment_end_ms: int = 0
    transport: str = ""  # for CAMERA

    def input_of(self, url: SecretUrl) -> str:
        """What ffmpeg/ffprobe open: the segment file, or the camera URL (password in)."""
        return str(self.path) if self.path is not None else url.reveal()


def fresh_window_ms(segment_seconds: int) -> int:
    """How old a recorded camera's newest segment can be (docs/design/recording.md, inv. 12)."""
    return 1000 * max(c.RECORDING_FRESH_MIN_SECONDS, 2 * segment_seconds + 30)


def pick_source(conn: sqlite3.Connection, config: Config, camera: CameraConfig, now: int) -> Source:
    """The last segment of the current recording run, else the camera over RTSP.

    A camera paused by the picture policy, offline, or not recorded at all has no run
    open: it is read live, so the check that lets a paused camera resume sees the camera,
    not the old segment that paused it.
    """
    run_started = _open_run_start(conn, camera.id) if camera.record else None
    if run_started is not None:
        window = fresh_window_ms(config.recording.segment_seconds)
        segment = latest_segment(conn, camera.id)
        if (
            segment is not None
            and segment.start_ms >= run_started - CONTINUITY_TOLERANCE_MS
            and segment.end_ms >= now - window
        ):
            path = config.storage.recordings_dir / segment.path
            return Source(SourceKind.RECORDING, path, segment.end_ms)
        if run_started >= now - window:
            return Source(SourceKind.WAIT)
    return camera_source(conn, config, camera)


def camera_source(conn: sqlite3.Connection, config: Config, camera: CameraConfig) -> Source:
    """The camera over RTSP, with the transport the recorder uses (invariant 8)."""
    transport = reading_transport(conn, camera, config.recording)
    return Source(SourceKind.CAMERA, transport=transport)


def _open_run_start(conn: sqlite3.Connection, camera: str) -> int | None:
    """When nvr-backup's current recording run of the camera started; None without one."""
    row = conn.execute(
        "SELECT max(started_at_ms) FROM recording_runs WHERE camera = ? AND ended_at_ms IS NULL",
        (camera,),
    ).fetchone()
    return int(row[0]) if row and row[0] is not None else None
