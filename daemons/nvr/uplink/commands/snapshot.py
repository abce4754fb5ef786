"""`snapshot` {camera}: one frame from the camera's live stream, as a JPEG in MinIO.

The frame comes from the camera itself (not from a recording), with ffmpeg over RTSP with
the transport the recorder uses (nvr.core.camera_media): the first keyframe decoded, so
the picture is whole, within a deadline. The camera URL holds its password: it is revealed
only in ffmpeg's argv, and ffmpeg's messages are redacted.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from nvr.core.camera_media import reading_transport
from nvr.core.durable import sync_file
from nvr.core.recordings import file_sha256
from nvr.core.state import StateStore
from nvr.core.stills import StillError, write_jpeg
from nvr.core.timeutil import format_ms
from nvr.core.uploads import ObjectRef, UploadKind, enqueue, object_key, spool_path
from nvr.uplink.commands.base import (
    ActionFailed,
    Context,
    Outcome,
    Plan,
    camera_arg,
    expect_args,
    minio_settings,
    upload_outcome,
)
from nvr.uplink.commands.constants import (
    SNAPSHOT,
    SNAPSHOT_ANALYZE_US,
    SNAPSHOT_JPEG_QSCALE,
    SNAPSHOT_TIMEOUT_SECONDS,
    SPOOL_SNAPSHOTS,
)
from nvr.uplink.commands.journal import Stored
from nvr.uplink.commands.wire import Command


class Snapshot:
    """A picture of one camera now, in the images bucket."""

    name = SNAPSHOT

    def check(self, command: Command, ctx: Context, conn: sqlite3.Connection, now_ms: int) -> Plan:
        """A configured, enabled camera, and MinIO to put the picture in."""
        expect_args(command, ("camera",))
        camera = camera_arg(command, ctx, live=True)
        bucket = minio_settings(command, ctx, "the snapshot").images_bucket
        return Plan(progress={"camera": camera.id, "bucket": bucket}, notes={})

    def step(self, store: StateStore, ctx: Context, stored: Stored, now_ms: int) -> Outcome | None:
        """Grab and queue the picture once; then wait for the upload."""
        progress = stored.progress
        if "key" not in progress:
            _grab_and_queue(store, ctx, stored, now_ms)
            return None
        result = {
            "minio_image_path": ObjectRef(progress["bucket"], progress["key"]).path,
            "camera": progress["camera"],
            "taken_at": format_ms(progress["taken_at_ms"]),
            "bytes": progress["bytes"],
            "sha256": progress["sha256"],
        }
        return upload_outcome(store.read(), progress["bucket"], progress["key"], result)


def _grab_and_queue(store: StateStore, ctx: Context, stored: Stored, now_ms: int) -> None:
    camera_id = stored.progress["camera"]
    camera = ctx.config.camera(camera_id)
    if camera is None:
        raise ActionFailed(f"camera {camera_id} was removed from the config")
    output = spool_path(ctx.state_file, SPOOL_SNAPSHOTS, camera_id, f"{stored.command.id}.jpg")
    output.parent.mkdir(parents=True, exist_ok=True)
    transport = reading_transport(store.read(), camera, ctx.config.recording)
    grab_frame(camera.url.reveal(), output, transport)
    sync_file(output)
    sha256 = file_sha256(output)
    ref = ObjectRef(
        stored.progress["bucket"],
        object_key(ctx.config.site.id, camera_id, now_ms, f"snapshot-{stored.command.id}.jpg"),
    )
    with store.write() as conn:
        enqueue(
            conn,
            ref,
            output,
            UploadKind.SNAPSHOT,
            camera=camera_id,
            sha256=sha256,
            owned=True,
            command_id=stored.command.id,
            start_ms=now_ms,
            end_ms=now_ms,
        )
        stored.save_progress(
            conn, key=ref.key, bytes=output.stat().st_size, sha256=sha256, taken_at_ms=now_ms
        )


def grab_frame(url: str, output: Path, transport: str) -> Path:
    """Write the first whole frame of `url` as JPEG to `output`; ActionFailed otherwise."""
    source = [
        "-rtsp_transport", transport, "-timeout", str(SNAPSHOT_TIMEOUT_SECONDS * 1_000_000),
        "-analyzeduration", str(SNAPSHOT_ANALYZE_US), "-skip_frame", "nokey", "-i", url,
    ]  # fmt: skip
    try:
        return write_jpeg(source, output, SNAPSHOT_JPEG_QSCALE, SNAPSHOT_TIMEOUT_SECONDS)
    except StillError as err:
        raise ActionFailed(f"no picture from the camera: {err}") from None
