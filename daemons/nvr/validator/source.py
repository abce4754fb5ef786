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
from nvr.core.recordings import latest_segment
from nvr.core.redact import SecretUrl
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
    """How old the newest segment of a camera being recorded can be (design §5)."""
    return 1000 * max(c.RECORDING_FRESH_MIN_SECONDS, 2 * segment_seconds + 30)


def pick_source(conn: sqlite3.Connection, config: Config, camera: CameraConfig, now: int) -> Source:
    """The segment when the camera is being recorded, else the camera over RTSP."""
    window = fresh_window_ms(config.recording.segment_seconds)
    if camera.record:
        segment = latest_segment(conn, camera.id)
        if segment is not None and segment.end_ms >= now - window:
            path = config.storage.recordings_dir / segment.path
            return Source(SourceKind.RECORDING, path, segment.end_ms)
        if _run_started_since(conn, camera.id, now - window):
            return Source(SourceKind.WAIT)
    return camera_source(conn, config, camera)


def camera_source(conn: sqlite3.Connection, config: Config, camera: CameraConfig) -> Source:
    """The camera over RTSP, with the transport the recorder uses (invariant 8)."""
    transport = reading_transport(conn, camera.id, str(config.recording.rtsp_transport))
    return Source(SourceKind.CAMERA, transport=transport)


def _run_started_since(conn: sqlite3.Connection, camera: str, since_ms: int) -> bool:
    """True when nvr-backup started recording the camera lately and is still at it."""
    row = conn.execute(
        "SELECT 1 FROM recording_runs WHERE camera = ? AND ended_at_ms IS NULL"
        " AND started_at_ms >= ? LIMIT 1",
        (camera, since_ms),
    ).fetchone()
    return row is not None
