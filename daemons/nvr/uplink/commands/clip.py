"""`request_clip` {camera, start, duration}: protect, export by stream copy, upload, report.

Order matters (docs/design/commands.md, procedure "request_clip"): the range is protected
first, so the janitor cannot delete a segment while it is being exported or while the
upload waits out a WAN outage; the export goes to a spool file; the upload is queued with
the command's id; the result names the object once the upload landed.
"""

from __future__ import annotations

import math
import sqlite3
from datetime import UTC, datetime

from nvr.core.manifest import MANIFEST_SUFFIX
from nvr.core.protections import insert_protection
from nvr.core.recordings import coverage
from nvr.core.state import StateStore
from nvr.core.timeutil import format_ms
from nvr.core.uploads import ObjectRef, UploadKind, enqueue, object_key, spool_path
from nvr.uplink.clipfile import export_evidence_clip
from nvr.uplink.commands.base import (
    Context,
    Outcome,
    Plan,
    camera_arg,
    expect_args,
    minio_settings,
    upload_outcome,
)
from nvr.uplink.commands.constants import REQUEST_CLIP, SPOOL_CLIPS
from nvr.uplink.commands.journal import Stored
from nvr.uplink.commands.wire import Command, parse_rfc3339

ARGS = ("camera", "start", "duration")


class RequestClip:
    """A recorded range of one camera, as one MP4 in the recordings bucket."""

    name = REQUEST_CLIP

    def check(self, command: Command, ctx: Context, conn: sqlite3.Connection, now_ms: int) -> Plan:
        """Known camera, a bounded range in the past with something recorded, MinIO configured."""
        expect_args(command, ARGS)
        camera = camera_arg(command, ctx, live=False)
        from_ms = parse_rfc3339(str(command.args["start"]))
        if from_ms is None:
            raise command.refuse(
                f"start {str(command.args['start'])[:40]!r} is not an RFC 3339 time with an offset"
            )
        to_ms = from_ms + _duration_ms(command, ctx.config.uplink.commands.max_clip_seconds)
        if to_ms > now_ms:
            raise command.refuse(
                f"the range {format_ms(from_ms)} .. {format_ms(to_ms)} reaches into the future"
            )
        cover = coverage(conn, camera.id, from_ms, to_ms)
        if cover.recorded_ms == 0:
            reasons = sorted({gap.reason for gap in cover.gaps})
            raise command.refuse(
                f"nothing recorded for {camera.id} from {format_ms(from_ms)} to"
                f" {format_ms(to_ms)} ({', '.join(reasons) or 'no segments'})"
            )
        # Last: a request that is wrong in itself is told so even where MinIO is missing.
        bucket = minio_settings(command, ctx, "the clip").recordings_bucket
        missing = [gap.to_json() for gap in cover.gaps]
        progress = {
            "camera": camera.id,
            "from_ms": from_ms,
            "to_ms": to_ms,
            "missing": missing,
            "bucket": bucket,
        }
        return Plan(progress=progress, notes={"missing": missing})

    def step(self, store: StateStore, ctx: Context, stored: Stored, now_ms: int) -> Outcome | None:
        """Protect, then export and queue the upload, then wait for it."""
        progress = stored.progress
        if "protection_id" not in progress:
            _protect(store, stored)
            return None
        if "key" not in progress:
            _export(store, ctx, stored)
            return None
        result = {
            "minio_file_path": ObjectRef(progress["bucket"], progress["key"]).path,
            "camera": progress["camera"],
            "from": format_ms(progress["from_ms"]),
            "to": format_ms(progress["to_ms"]),
            "bytes": progress["bytes"],
            "sha256": progress["sha256"],
            # Absent for a clip exported before manifests existed (a command resumed).
            "manifest_file_path": ObjectRef(progress["bucket"], progress["manifest_key"]).path
            if "manifest_key" in progress
            else None,
            "missing": progress["missing"],
            "protection_id": progress["protection_id"],
        }
        return upload_outcome(store.read(), progress["bucket"], progress["key"], result)


def _duration_ms(command: Command, max_seconds: int) -> int:
    duration = command.args["duration"]
    if isinstance(duration, bool) or not isinstance(duration, int | float):
        raise command.refuse("duration must be a number of seconds")
    if not math.isfinite(duration):
        raise command.refuse("duration must be a finite number of seconds")
    if duration <= 0:
        raise command.refuse(f"duration must be more than 0 s, got {duration:g}")
    if duration > max_seconds:
        raise command.refuse(
            f"duration {duration:g} s is longer than uplink.commands.max_clip_seconds"
            f" ({max_seconds} s)"
        )
    return int(duration * 1000)


def _protect(store: StateStore, stored: Stored) -> None:
    """Protect the range from the janitor (kept if the export fails: it is evidence)."""
    progress = stored.progress
    with store.write() as conn:
        protection_id, _ = insert_protection(
            conn,
            camera=progress["camera"],
            from_ms=progress["from_ms"],
            to_ms=progress["to_ms"],
            reason=f"{REQUEST_CLIP} {stored.command.id} ({stored.command.origin})",
        )
        stored.save_progress(conn, protection_id=protection_id)


def _export(store: StateStore, ctx: Context, stored: Stored) -> None:
    """Stream-copy the range into the spool and queue its upload (ExportError on failure)."""
    progress = stored.progress
    camera, from_ms, to_ms = progress["camera"], progress["from_ms"], progress["to_ms"]
    output = spool_path(ctx.state_file, SPOOL_CLIPS, camera, f"{stored.command.id}.mp4")
    # Background work beside recording, like alarm clips (hse-edge.md, invariant 4).
    clip = export_evidence_clip(
        store, ctx.config, camera, (from_ms, to_ms), output, low_priority=True
    )
    ref = ObjectRef(
        progress["bucket"],
        object_key(ctx.config.site.id, camera, from_ms, _clip_name(stored, from_ms, to_ms)),
    )
    manifest_ref = ObjectRef(ref.bucket, ref.key + MANIFEST_SUFFIX)
    with store.write() as conn:
        for path, target in ((clip.path, ref), (clip.manifest, manifest_ref)):
            enqueue(
                conn,
                target,
                path,
                UploadKind.CLIP,
                camera=camera,
                sha256=clip.sha256 if path == clip.path else None,
                owned=True,
                command_id=stored.command.id,
                start_ms=from_ms,
                end_ms=to_ms,
            )
        stored.save_progress(
            conn,
            key=ref.key,
            manifest_key=manifest_ref.key,
            bytes=clip.bytes,
            sha256=clip.sha256,
        )


def _clip_name(stored: Stored, from_ms: int, to_ms: int) -> str:
    """`clip-<HHMMSS>-<duration>s-<id>.mp4` (UTC start time)."""
    start = datetime.fromtimestamp(from_ms / 1000, UTC).strftime("%H%M%S")
    return f"clip-{start}-{(to_ms - from_ms) / 1000:g}s-{stored.command.id}.mp4"
