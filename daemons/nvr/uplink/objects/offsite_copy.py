"""Offsite copy: finished segments of chosen cameras queued for MinIO; losses found and told.

Queuing costs no I/O (the segment row has its size and hash), so it runs whether MinIO is
up or not: a row exists for a segment soon after it closes, and when retention deletes
the file before the copy, the sweep finds the row's segment gone and reports it. Local
retention never waits for the copy (docs/design/objects.md, invariant 4).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from nvr.core.state import StateStore, now_ms
from nvr.core.tables.events import Severity, record_event
from nvr.core.tables.offsite import Tally, cursor_name, queued_through
from nvr.core.tables.uploads import BucketTarget, UploadKind, UploadState, enqueue
from nvr.uplink.constants import EVENT_SOURCE, OFFSITE_LOST_EVENT_KIND, OFFSITE_SCAN_BATCH
from nvr.uplink.objects.queue_state import COLUMNS, UploadRow, finish_in

log = logging.getLogger(__name__)

LOST_REASON = "deleted locally before it was copied"
MB = 1_000_000


@dataclass(frozen=True)
class OffsiteCopy:
    """Which cameras are copied, from where, to which bucket."""

    target: BucketTarget
    recordings_dir: Path
    cameras: tuple[str, ...]

    def queue_new_segments(self, store: StateStore) -> int:
        """Queue each camera's segments closed since its cursor; return how many."""
        return sum(self._queue_camera(store, camera) for camera in self.cameras)

    def _queue_camera(self, store: StateStore, camera: str) -> int:
        with store.write() as conn:
            rows = conn.execute(
                "SELECT id, path, start_ms, end_ms, bytes, sha256 FROM segments"
                " WHERE camera = ? AND id > ? AND status = 'ok' ORDER BY id LIMIT ?",
                (camera, queued_through(conn, camera), OFFSITE_SCAN_BATCH),
            ).fetchall()
            for row in rows:
                enqueue(
                    conn,
                    self.target.ref(camera, row["start_ms"], PurePosixPath(row["path"]).name),
                    self.recordings_dir / row["path"],
                    UploadKind.OFFSITE,
                    camera=camera,
                    sha256=row["sha256"],
                    size=row["bytes"],
                    segment_id=row["id"],
                    start_ms=row["start_ms"],
                    end_ms=row["end_ms"],
                )
            if rows:
                conn.execute(
                    "INSERT INTO uplink_cursors (destination, last_id, updated_at_ms)"
                    " VALUES (?, ?, ?) ON CONFLICT (destination) DO UPDATE SET"
                    " last_id = excluded.last_id, updated_at_ms = excluded.updated_at_ms",
                    (cursor_name(camera), rows[-1]["id"], now_ms()),
                )
        return len(rows)


def sweep_deleted(store: StateStore) -> list[UploadRow]:
    """Give up queued copies whose segment row is gone (deleted by retention): lost.

    The search is a plain read, so writers are not held up by a long queue; finishing
    re-checks that each row is still pending.
    """
    rows = (
        store.read()
        .execute(
            f"SELECT {COLUMNS} FROM uploads u WHERE state = ? AND kind = ? AND NOT EXISTS"
            " (SELECT 1 FROM segments s WHERE s.id = u.segment_id AND s.start_ms = u.start_ms"
            " AND s.status = 'ok')",
            (UploadState.PENDING.value, UploadKind.OFFSITE.label),
        )
        .fetchall()
    )
    lost = [UploadRow.from_db(row) for row in rows]
    if lost:
        with store.write() as conn:
            finish_in(conn, lost, UploadState.LOST, LOST_REASON)
    return lost


def report_lost(store: StateStore, lost: Sequence[UploadRow]) -> None:
    """One warning event for the segments found lost in a pass: per camera, count and span."""
    if not lost:
        return
    tallies: dict[str, Tally] = {}
    for row in lost:
        camera = row.camera or ""
        tallies[camera] = tallies.get(camera, Tally()) + Tally(
            1, row.bytes or 0, row.start_ms, row.end_ms
        )
    total = sum(tallies.values(), Tally())
    cameras = sorted(tallies)
    span = total.to_json(span=True)
    message = (
        f"offsite copy: {total.segments} segment{'' if total.segments == 1 else 's'}"
        f" ({total.bytes / MB:.1f} MB, {span['from']}"
        f" to {span['to']}) of {', '.join(f'camera={c}' for c in cameras)} deleted locally"
        " before the copy"
    )
    data: dict[str, Any] = {"cameras": {c: tallies[c].to_json(span=True) for c in cameras}}
    record_event(
        store,
        source=EVENT_SOURCE,
        severity=Severity.WARNING,
        kind=OFFSITE_LOST_EVENT_KIND,
        camera=cameras[0] if len(cameras) == 1 else None,
        message=message,
        data=data,
    )
