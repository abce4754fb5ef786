"""nvr-uplink's side of the upload queue: the next row, and every change of a row's state.

Only nvr-uplink changes rows after they are inserted. A row leaves the queue (done or
lost) in one transaction with its count in upload_totals, so totals survive pruning
(docs/design/objects.md, invariant 5).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from nvr.core.state import StateStore, now_ms
from nvr.core.tables.uploads import ObjectRef, UploadState

COLUMNS = (
    "id, bucket, object_key, path, sha256, bytes, kind, camera, segment_id, start_ms, end_ms, owned"
)


@dataclass(frozen=True)
class UploadRow:
    """One pending upload."""

    id: int
    bucket: str
    key: str
    path: Path
    sha256: str | None
    bytes: int | None
    kind: str
    camera: str | None
    segment_id: int | None
    start_ms: int | None
    end_ms: int | None
    owned: bool

    @classmethod
    def from_db(cls, row: sqlite3.Row) -> UploadRow:
        """A row selected with COLUMNS."""
        return cls(
            id=row["id"],
            bucket=row["bucket"],
            key=row["object_key"],
            path=Path(row["path"]),
            sha256=row["sha256"],
            bytes=row["bytes"],
            kind=row["kind"],
            camera=row["camera"],
            segment_id=row["segment_id"],
            start_ms=row["start_ms"],
            end_ms=row["end_ms"],
            owned=bool(row["owned"]),
        )

    @property
    def ref(self) -> ObjectRef:
        """Where it goes."""
        return ObjectRef(self.bucket, self.key)


def next_pending(conn: sqlite3.Connection) -> UploadRow | None:
    """The most urgent pending row: lowest priority value, then oldest."""
    row = conn.execute(
        f"SELECT {COLUMNS} FROM uploads WHERE state = ? ORDER BY priority, id LIMIT 1",
        (UploadState.PENDING.value,),
    ).fetchone()
    return None if row is None else UploadRow.from_db(row)


def pending_totals(conn: sqlite3.Connection) -> tuple[int, int]:
    """Pending rows and their bytes (unknown sizes count 0)."""
    count, size = conn.execute(
        "SELECT count(*), coalesce(sum(bytes), 0) FROM uploads WHERE state = ?",
        (UploadState.PENDING.value,),
    ).fetchone()
    return int(count), int(size)


def note_failure(store: StateStore, row_id: int, error: str) -> None:
    """Count a failed attempt; the row stays pending."""
    with store.write() as conn:
        conn.execute(
            "UPDATE uploads SET attempts = attempts + 1, last_error = ? WHERE id = ?",
            (error, row_id),
        )


def finish(
    store: StateStore, row: UploadRow, state: UploadState, reason: str = "", size: int | None = None
) -> None:
    """Take one row out of the queue (done or lost) and count it."""
    with store.write() as conn:
        finish_in(conn, [row], state, reason, size)


def finish_in(
    conn: sqlite3.Connection,
    rows: Sequence[UploadRow],
    state: UploadState,
    reason: str = "",
    size: int | None = None,
) -> None:
    """`finish` inside the caller's transaction; `size` (measured now) overrides the row's."""
    at = now_ms()
    for row in rows:
        size_now = size if size is not None else row.bytes or 0
        updated = conn.execute(
            "UPDATE uploads SET state = ?, last_error = ?, done_at_ms = ?, bytes = ?"
            " WHERE id = ? AND state = ?",
            (state.value, reason, at, size_now, row.id, UploadState.PENDING.value),
        ).rowcount
        if not updated:
            continue  # finished already (a sweep and an upload saw it gone together)
        conn.execute(
            "INSERT INTO upload_totals (camera, kind, state, files, bytes) VALUES (?, ?, ?, 1, ?)"
            " ON CONFLICT (camera, kind, state) DO UPDATE SET files = files + 1,"
            " bytes = bytes + excluded.bytes",
            (row.camera or "", row.kind, state.value, size_now),
        )


def prune(store: StateStore, before_ms: int) -> int:
    """Delete finished rows older than `before_ms` (their totals are already counted)."""
    with store.write() as conn:
        cursor = conn.execute(
            "DELETE FROM uploads WHERE state != ? AND done_at_ms < ?",
            (UploadState.PENDING.value, before_ms),
        )
    return int(cursor.rowcount)
