"""Alarm clips, step by step: find alarms, protect, wait for the video, export, upload, follow up.

Each row of `alarm_clips` moves waiting → uploading → done (or failed), one step per pass,
and every step commits with its side effect (docs/design/hse-edge.md, "Alarm clips"):
1. an alarm found → its range protected + its row + the cursor, one transaction;
2. the range recorded (the segment holding its end is indexed, or the camera stayed
   silent past the give-up time) → export by stream copy at low priority → uploads rows
   + the row `uploading` with the object, one transaction;
3. the upload done → the `alarm_clip` event + the row `done`, one transaction.
A restart resumes from the row's state; at worst an export is redone over its spool file.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from nvr.core.alarm_clips import ALARM_CLIP_FAILED_KIND, ALARM_CLIP_KIND, alarms_after
from nvr.core.alarms import CLIPS_CURSOR, save_cursor
from nvr.core.config import Config
from nvr.core.manifest import MANIFEST_SUFFIX
from nvr.core.state import StateStore, now_ms
from nvr.core.tables.events import Severity, insert_event
from nvr.core.tables.export import ExportError
from nvr.core.tables.protections import insert_protection
from nvr.core.tables.recordings import coverage
from nvr.core.tables.uploads import (
    ObjectRef,
    UploadKind,
    UploadState,
    enqueue,
    object_key,
    spool_path,
)
from nvr.core.timeutil import format_ms
from nvr.uplink.constants import (
    ALARM_CLIPS_PER_PASS,
    EVENT_SOURCE,
    SPOOL_ALARM_CLIPS,
)
from nvr.uplink.event_cursor import start_after
from nvr.uplink.objects.clipfile import export_evidence_clip

log = logging.getLogger(__name__)

CURSOR = CLIPS_CURSOR  # hse_cursors.name

WAITING = "waiting"
UPLOADING = "uploading"
DONE = "done"
FAILED = "failed"


@dataclass(frozen=True)
class ClipRow:
    """One alarm_clips row that is not finished."""

    event_id: int
    camera: str
    from_ms: int
    to_ms: int
    protection_id: int
    state: str
    bucket: str | None
    object_key: str | None
    bytes: int | None
    sha256: str | None
    missing: list[dict[str, Any]]

    @property
    def ref(self) -> ObjectRef:
        """Where the clip goes (known once exported)."""
        return ObjectRef(self.bucket or "", self.object_key or "")


# -- 1. discovery --------------------------------------------------------------------------
def discover(store: StateStore, config: Config, now_ms: int) -> int:
    """Protect and queue a clip for each new alarm of a recorded camera; return how many.

    The protection comes now, before the video after the alarm exists, in the transaction
    of the row and the cursor (docs/design/hse-edge.md, invariants 1 and 3).
    """
    settings = config.uplink.event_clips
    conn = store.read()
    after = start_after(conn, CURSOR, now_ms)
    alarms, last = alarms_after(conn, after, ALARM_CLIPS_PER_PASS)
    if last == after:
        return 0
    made = 0
    with store.write() as conn:
        for alarm in alarms:
            camera = config.camera(alarm.camera)
            if camera is None or not (camera.enabled and camera.record):
                continue  # not recorded here (an ingest source's id, a live-only camera)
            from_ms = alarm.at_ms - settings.before_seconds * 1000
            to_ms = alarm.at_ms + settings.after_seconds * 1000
            if _known(conn, alarm.id):
                continue
            protection_id, created = insert_protection(
                conn,
                camera=alarm.camera,
                from_ms=from_ms,
                to_ms=to_ms,
                reason=f"alarm clip of event {alarm.id} ({alarm.kind})",
            )
            conn.execute(
                "INSERT INTO alarm_clips (event_id, camera, from_ms, to_ms, protection_id,"
                " created_at_ms) VALUES (?, ?, ?, ?, ?, ?)",
                (alarm.id, alarm.camera, from_ms, to_ms, protection_id, created),
            )
            made += 1
            log.info(
                "alarm clip: event=%d camera=%s kind=%s: protected %s .. %s, waiting for the video",
                alarm.id,
                alarm.camera,
                alarm.kind,
                format_ms(from_ms),
                format_ms(to_ms),
            )
        save_cursor(conn, CURSOR, last)
    return made


def _known(conn: sqlite3.Connection, event_id: int) -> bool:
    return (
        conn.execute("SELECT 1 FROM alarm_clips WHERE event_id = ?", (event_id,)).fetchone()
        is not None
    )


# -- 2 and 3. advancing open clips ----------------------------------------------------------
def open_clips(conn: sqlite3.Connection) -> list[ClipRow]:
    """Clips waiting for their video or their upload, oldest alarm first."""
    rows = conn.execute(
        "SELECT event_id, camera, from_ms, to_ms, protection_id, state, bucket, object_key,"
        " bytes, sha256, missing_json FROM alarm_clips"
        " WHERE state IN (?, ?) ORDER BY event_id",
        (WAITING, UPLOADING),
    ).fetchall()
    return [_clip_row(r) for r in rows]


def _clip_row(r: sqlite3.Row | tuple[Any, ...]) -> ClipRow:
    return ClipRow(
        event_id=int(r[0]),
        camera=str(r[1]),
        from_ms=int(r[2]),
        to_ms=int(r[3]),
        protection_id=int(r[4]),
        state=str(r[5]),
        bucket=r[6],
        object_key=r[7],
        bytes=r[8],
        sha256=r[9],
        missing=json.loads(r[10]),
    )


def advance(store: StateStore, config: Config, clip: ClipRow, now_ms: int) -> str:
    """One step of one clip; returns its state afterwards."""
    if clip.state == WAITING:
        if not video_complete(store.read(), config, clip, now_ms):
            return WAITING
        return _export(store, config, clip)
    return _follow_up(store, config, clip)


def give_up_ms(config: Config) -> int:
    """How long after the range's end a silent camera is waited for.

    Frigate's rule for judging a camera by its output: a new segment within max(120 s,
    2 x segment + 30 s).
    """
    segment_s = config.recording.segment_seconds
    return max(120, 2 * segment_s + 30) * 1000


def video_complete(conn: sqlite3.Connection, config: Config, clip: ClipRow, now_ms: int) -> bool:
    """The range's end is recorded and indexed, or the camera stayed silent too long.

    docs/design/hse-edge.md, invariant 2.

    A segment is indexed when it is closed, so one reaching to_ms means every second of
    the range that will ever be recorded is on disk.
    """
    if now_ms < clip.to_ms:
        return False
    # Bounded below so the (camera, start_ms) index is used, not every segment of months:
    # a segment holding to_ms starts at most a segment (plus slack) before it.
    earliest = min(clip.from_ms, clip.to_ms) - 2 * config.recording.segment_seconds * 1000
    row = conn.execute(
        "SELECT 1 FROM segments WHERE camera = ? AND start_ms >= ? AND end_ms >= ? LIMIT 1",
        (clip.camera, earliest, clip.to_ms),
    ).fetchone()
    return row is not None or now_ms >= clip.to_ms + give_up_ms(config)


def _export(store: StateStore, config: Config, clip: ClipRow) -> str:
    """Export (low priority), queue the clip and its manifest, mark the row uploading."""
    cover = coverage(store.read(), clip.camera, clip.from_ms, clip.to_ms)
    if cover.recorded_ms == 0:
        reasons = ", ".join(sorted({gap.reason for gap in cover.gaps})) or "no segments"
        return _fail(
            store,
            clip,
            f"nothing recorded from {format_ms(clip.from_ms)} to"
            f" {format_ms(clip.to_ms)} ({reasons})",
        )
    minio = config.uplink.minio
    if minio is None:
        return WAITING  # the service runs only with MinIO; a reload may have removed it
    output = spool_path(
        config.storage.state_file, SPOOL_ALARM_CLIPS, clip.camera, f"{clip.event_id}.mp4"
    )
    try:
        exported = export_evidence_clip(
            store, config, clip.camera, (clip.from_ms, clip.to_ms), output, low_priority=True
        )
    except ExportError as err:
        return _fail(store, clip, str(err))
    ref = ObjectRef(
        minio.recordings_bucket,
        object_key(config.site.id, clip.camera, clip.from_ms, clip_name(clip)),
    )
    missing = [gap.to_json() for gap in cover.gaps]
    with store.write() as conn:
        for path, target, sha256 in (
            (exported.path, ref, exported.sha256),
            (exported.manifest, ObjectRef(ref.bucket, ref.key + MANIFEST_SUFFIX), None),
        ):
            enqueue(
                conn,
                target,
                path,
                UploadKind.CLIP,
                camera=clip.camera,
                sha256=sha256,
                owned=True,
                start_ms=clip.from_ms,
                end_ms=clip.to_ms,
            )
        conn.execute(
            "UPDATE alarm_clips SET state = ?, bucket = ?, object_key = ?, bytes = ?,"
            " sha256 = ?, missing_json = ? WHERE event_id = ?",
            (UPLOADING, ref.bucket, ref.key, exported.bytes, exported.sha256,
             json.dumps(missing), clip.event_id),
        )  # fmt: skip
    log.info(
        "alarm clip: event=%d camera=%s exported %d bytes, uploading to %s",
        clip.event_id,
        clip.camera,
        exported.bytes,
        ref.path,
    )
    return UPLOADING


def clip_name(clip: ClipRow) -> str:
    """`alarm-<YYYYMMDDTHHMMSSZ of the range's start>-<event id>.mp4`."""
    start = datetime.fromtimestamp(clip.from_ms / 1000, UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"alarm-{start}-{clip.event_id}.mp4"


def _follow_up(store: StateStore, config: Config, clip: ClipRow) -> str:
    """Once the upload landed: the alarm_clip event and the row done, together.

    Not before: the path must name an object that exists (hse-edge.md, invariant 5).
    """
    row = (
        store.read()
        .execute(
            "SELECT state, last_error FROM uploads WHERE bucket = ? AND object_key = ?",
            (clip.bucket, clip.object_key),
        )
        .fetchone()
    )
    if row is None or row[0] == UploadState.LOST:
        why = "no longer queued" if row is None else row[1] or "no reason given"
        return _fail(store, clip, f"upload of {clip.ref.path} was lost: {why}")
    if row[0] != UploadState.DONE:
        return UPLOADING
    data = follow_up_data(clip)
    with store.write() as conn:
        event_id = insert_event(
            conn,
            EVENT_SOURCE,
            Severity.INFO,
            ALARM_CLIP_KIND,
            f"camera={clip.camera} clip of alarm event {clip.event_id}: {data['clip_path']}",
            camera=clip.camera,
            data=data,
        )
        _finish(conn, clip.event_id, DONE, "", event_id)
    log.info(
        "alarm clip: event=%d camera=%s done: %s", clip.event_id, clip.camera, data["clip_path"]
    )
    return DONE


def follow_up_data(clip: ClipRow) -> dict[str, Any]:
    """The alarm_clip event's data: the HSE platform's recording fields and the evidence."""
    return {
        "alarm_event_id": clip.event_id,
        "clip_path": clip.ref.path,
        "file_name": clip.ref.key.rsplit("/", 1)[-1],
        "minio_file_path": clip.ref.path,
        "manifest_file_path": clip.ref.path + MANIFEST_SUFFIX,
        "start_time": format_ms(clip.from_ms),
        "end_time": format_ms(clip.to_ms),
        "bytes": clip.bytes,
        "sha256": clip.sha256,
        "missing": clip.missing,
        "protection_id": clip.protection_id,
    }


def _fail(store: StateStore, clip: ClipRow, reason: str) -> str:
    """No clip will come: say so (the protection stays: the range is still evidence)."""
    with store.write() as conn:
        event_id = insert_event(
            conn,
            EVENT_SOURCE,
            Severity.WARNING,
            ALARM_CLIP_FAILED_KIND,
            f"camera={clip.camera} no clip of alarm event {clip.event_id}: {reason}",
            camera=clip.camera,
            data={"alarm_event_id": clip.event_id, "error": reason},
        )
        _finish(conn, clip.event_id, FAILED, reason, event_id)
    log.warning("alarm clip: event=%d camera=%s failed: %s", clip.event_id, clip.camera, reason)
    return FAILED


def _finish(
    conn: sqlite3.Connection, event_id: int, state: str, error: str, clip_event_id: int
) -> None:
    conn.execute(
        "UPDATE alarm_clips SET state = ?, error = ?, clip_event_id = ?,"
        " finished_at_ms = ? WHERE event_id = ?",
        (state, error, clip_event_id, now_ms(), event_id),
    )


def open_counts(conn: sqlite3.Connection) -> dict[str, int]:
    """Rows waiting and uploading (status line and heartbeat; the partial index)."""
    found = dict(
        conn.execute(
            "SELECT state, count(*) FROM alarm_clips WHERE state IN (?, ?) GROUP BY state",
            (WAITING, UPLOADING),
        ).fetchall()
    )
    return {state: int(found.get(state, 0)) for state in (WAITING, UPLOADING)}


def prune(store: StateStore, before_ms: int) -> int:
    """Forget finished rows older than `before_ms` (their events and protections stay)."""
    with store.write() as conn:
        return conn.execute(
            "DELETE FROM alarm_clips WHERE state IN (?, ?) AND finished_at_ms < ?",
            (DONE, FAILED, before_ms),
        ).rowcount
