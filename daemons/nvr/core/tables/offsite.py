"""How far the offsite copy (segments to MinIO) is behind, and what it lost, from the state file.

nvr-uplink copies; nvr-report and nvr-uplink's heartbeat read these figures, so "behind"
and "lost before copy" mean the same everywhere. A segment is *pending* while it has no
upload row yet (after the camera's cursor) or its row is pending; *copied* when its row is
done; *lost before copy* when its row is lost because retention deleted the file first.
See docs/design/objects.md.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from nvr.core.config import Config
from nvr.core.tables.uploads import UploadKind, UploadState
from nvr.core.timeutil import format_ms

# uplink_cursors.destination of a camera's copy: every segment with id <= last_id is queued.
CURSOR_PREFIX = "offsite:"
OFFSITE = UploadKind.OFFSITE.label


def cursor_name(camera: str) -> str:
    """The uplink_cursors key of a camera's offsite copy."""
    return f"{CURSOR_PREFIX}{camera}"


def offsite_cameras(config: Config) -> tuple[str, ...]:
    """Cameras with `offsite_copy: true` (enabled or not: old segments still get copied)."""
    return tuple(camera.id for camera in config.cameras if camera.offsite_copy)


def queued_through(conn: sqlite3.Connection, camera: str) -> int:
    """The segment id up to which the camera's segments are queued (0: none yet)."""
    row = conn.execute(
        "SELECT last_id FROM uplink_cursors WHERE destination = ?", (cursor_name(camera),)
    ).fetchone()
    return int(row[0]) if row else 0


@dataclass(frozen=True)
class Tally:
    """Segments and bytes, with the time they cover when known."""

    segments: int = 0
    bytes: int = 0
    first_ms: int | None = None
    last_ms: int | None = None

    def __add__(self, other: Tally) -> Tally:
        firsts = [t for t in (self.first_ms, other.first_ms) if t is not None]
        lasts = [t for t in (self.last_ms, other.last_ms) if t is not None]
        return Tally(
            self.segments + other.segments,
            self.bytes + other.bytes,
            min(firsts) if firsts else None,
            max(lasts) if lasts else None,
        )

    def to_json(self, span: bool = False) -> dict[str, Any]:
        """`{"segments", "bytes"}`, with `from`/`to` (RFC 3339) when `span`."""
        out: dict[str, Any] = {"segments": self.segments, "bytes": self.bytes}
        if span:
            out["from"] = format_ms(self.first_ms) if self.first_ms is not None else None
            out["to"] = format_ms(self.last_ms) if self.last_ms is not None else None
        return out


def _tally(row: sqlite3.Row | tuple[Any, ...]) -> Tally:
    count, size, first, last = row
    return Tally(int(count), int(size or 0), first, last)


@dataclass(frozen=True)
class CameraOffsite:
    """One camera's copy: what waits, what went, what was lost."""

    camera: str
    pending: Tally  # first_ms: start of the oldest segment not yet copied
    copied: Tally  # in the period
    lost: Tally  # deleted locally before copy, found in the period (with its time range)
    copied_total: Tally
    lost_total: Tally

    def behind_seconds(self, now_ms: int) -> float:
        """Now minus the start of the oldest segment not yet copied; 0 when caught up."""
        if self.pending.first_ms is None:
            return 0.0
        return round(max(0, now_ms - self.pending.first_ms) / 1000, 1)

    def to_json(self, now_ms: int) -> dict[str, Any]:
        """The camera's entry of the report."""
        return {
            "camera": self.camera,
            "pending": self.pending.to_json(),
            "behind_seconds": self.behind_seconds(now_ms),
            "copied": self.copied.to_json(),
            "copied_total": self.copied_total.to_json(),
            "lost_before_copy": self.lost.to_json(span=True),
            "lost_before_copy_total": self.lost_total.to_json(),
        }


def pending(conn: sqlite3.Connection, camera: str) -> Tally:
    """Segments of `camera` not copied yet: queued rows plus segments not queued yet."""
    queued = conn.execute(
        "SELECT count(*), sum(bytes), min(start_ms), max(end_ms) FROM uploads"
        " WHERE camera = ? AND kind = ? AND state = ?",
        (camera, OFFSITE, UploadState.PENDING.value),
    ).fetchone()
    not_queued = conn.execute(
        "SELECT count(*), sum(bytes), min(start_ms), max(end_ms) FROM segments"
        " WHERE camera = ? AND id > ? AND status = 'ok'",
        (camera, queued_through(conn, camera)),
    ).fetchone()
    return _tally(queued) + _tally(not_queued)


def camera_offsite(
    conn: sqlite3.Connection, camera: str, from_ms: int, to_ms: int
) -> CameraOffsite:
    """A camera's figures; copied and lost count rows that left the queue in [from, to)."""
    return CameraOffsite(
        camera=camera,
        pending=pending(conn, camera),
        copied=_finished(conn, camera, UploadState.DONE, from_ms, to_ms),
        lost=_finished(conn, camera, UploadState.LOST, from_ms, to_ms),
        copied_total=_total(conn, camera, UploadState.DONE),
        lost_total=_total(conn, camera, UploadState.LOST),
    )


def _finished(
    conn: sqlite3.Connection, camera: str, state: UploadState, from_ms: int, to_ms: int
) -> Tally:
    row = conn.execute(
        "SELECT count(*), sum(bytes), min(start_ms), max(end_ms) FROM uploads"
        " WHERE camera = ? AND kind = ? AND state = ? AND done_at_ms >= ? AND done_at_ms < ?",
        (camera, OFFSITE, state.value, from_ms, to_ms),
    ).fetchone()
    return _tally(row)


def _total(conn: sqlite3.Connection, camera: str, state: UploadState) -> Tally:
    """Since the first copy: upload_totals is counted as rows leave the queue."""
    row = conn.execute(
        "SELECT files, bytes FROM upload_totals WHERE camera = ? AND kind = ? AND state = ?",
        (camera, OFFSITE, state.value),
    ).fetchone()
    return Tally(int(row[0]), int(row[1])) if row else Tally()


def offsite_status(
    conn: sqlite3.Connection, cameras: Sequence[str], from_ms: int, to_ms: int
) -> dict[str, Any]:
    """Per camera and in total; `to_ms` is "now" for `behind_seconds`."""
    per_camera = [camera_offsite(conn, camera, from_ms, to_ms) for camera in cameras]
    total = CameraOffsite(
        camera="",
        pending=_sum(entry.pending for entry in per_camera),
        copied=_sum(entry.copied for entry in per_camera),
        lost=_sum(entry.lost for entry in per_camera),
        copied_total=_sum(entry.copied_total for entry in per_camera),
        lost_total=_sum(entry.lost_total for entry in per_camera),
    ).to_json(to_ms)
    del total["camera"]
    return {"cameras": [entry.to_json(to_ms) for entry in per_camera], "total": total}


def _sum(tallies: Iterable[Tally]) -> Tally:
    return sum(tallies, Tally())
