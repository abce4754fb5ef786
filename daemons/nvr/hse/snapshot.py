"""Alarm pictures: served by the box, and queued for MinIO under `alarm-images/YYYY/MM/DD/`.

The picture comes from what nvr-backup just recorded, decoded once by ffmpeg: no second
RTSP session with a camera that is recorded (docs/design/hse.md, invariant 5). A camera
with no recent segment gets no picture; the alarm goes out without one.
"""

from __future__ import annotations

import logging
import secrets
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from nvr.core.config import Config
from nvr.core.durable import sync_file
from nvr.core.state import StateStore
from nvr.core.stills import StillError, write_jpeg
from nvr.core.tables.recordings import file_sha256, latest_segment
from nvr.core.tables.uploads import ObjectRef, UploadKind, enqueue, images_target
from nvr.hse.constants import (
    SNAPSHOT_JPEG_QSCALE,
    SNAPSHOT_RECENT_SEGMENTS,
    SNAPSHOT_TIMEOUT_SECONDS,
)
from nvr.hse.errors import SnapshotError

log = logging.getLogger(__name__)

IMAGES_DIR = "alarm-images"
# The validator's picture of a failing camera (nvr.validator.store.snapshot_path).
VALIDATOR_BAD_PICTURE = ("snapshots", "last_bad.jpg")


def images_dir(state_file: Path) -> Path:
    """`<state dir>/alarm-images`: the pictures nvr-hse serves at /alarm-images/<name>."""
    return state_file.parent / IMAGES_DIR


def picture_name(event_id: int) -> str:
    """`<event id>-<random>.jpg`: unguessable, so the URL itself is the permission.

    The backend fetches image_url without our token (its design shows a plain GET).
    """
    return f"{event_id}-{secrets.token_hex(16)}.jpg"


def take_picture(
    store: StateStore, config: Config, camera: str, event_id: int, at_ms: int, from_validator: bool
) -> Path | None:
    """Store (and sync) a picture for the alarm of `event_id`; None when there is none."""
    output = images_dir(config.storage.state_file) / picture_name(event_id)
    output.parent.mkdir(parents=True, exist_ok=True)
    try:
        if from_validator:
            _copy_validator_picture(config.storage.state_file, camera, output)
        else:
            _frame_of_newest_segment(store, config, camera, at_ms, output)
    except SnapshotError as err:
        log.info("camera=%s: alarm of event %d without a picture: %s", camera, event_id, err)
        return None
    sync_file(output)
    return output


@dataclass(frozen=True)
class Upload:
    """A picture bound for the images bucket: its object is fixed before it is queued."""

    ref: ObjectRef
    path: Path
    camera: str
    at_ms: int

    def enqueue(self, conn: sqlite3.Connection) -> None:
        """Queue it, in the caller's transaction (the one that stores its alarm)."""
        # Not owned: nvr-hse serves the file and prunes it; nvr-uplink only copies it.
        enqueue(
            conn,
            self.ref,
            self.path,
            UploadKind.SNAPSHOT,
            camera=self.camera,
            sha256=file_sha256(self.path),
            owned=False,
            start_ms=self.at_ms,
            end_ms=self.at_ms,
        )


def upload_for(config: Config, camera: str, at_ms: int, path: Path) -> Upload | None:
    """Where the picture goes in MinIO (`alarm-images/YYYY/MM/DD/...`); None without MinIO."""
    target = images_target(config)
    if target is None:
        return None
    return Upload(target.ref(camera, at_ms, path.name), path, camera, at_ms)


def _copy_validator_picture(state_file: Path, camera: str, output: Path) -> None:
    source = state_file.parent / VALIDATOR_BAD_PICTURE[0] / camera / VALIDATOR_BAD_PICTURE[1]
    try:
        shutil.copyfile(source, output)
    except OSError as err:
        raise SnapshotError(f"no validator picture ({err.strerror})") from None


def _frame_of_newest_segment(
    store: StateStore, config: Config, camera: str, at_ms: int, output: Path
) -> None:
    segment = latest_segment(store.read(), camera)
    recent_ms = SNAPSHOT_RECENT_SEGMENTS * config.recording.segment_seconds * 1000
    if segment is None or segment.end_ms < at_ms - recent_ms:
        raise SnapshotError("no recent recording")
    source = config.storage.recordings_dir / segment.path
    # The last keyframe of the segment: the nearest to the alarm of what was recorded.
    seek = ["-sseof", "-2", "-i", str(source)]
    try:
        write_jpeg(seek, output, SNAPSHOT_JPEG_QSCALE, SNAPSHOT_TIMEOUT_SECONDS)
    except StillError as err:
        raise SnapshotError(f"{segment.path}: {err}") from None
