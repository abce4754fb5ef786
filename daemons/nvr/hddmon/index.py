"""Reading the segment index and moving rows through the garbage table.

Oldest-first selection comes from the index (the `segments_start` and
`segments_camera_start` indexes), never from walking directories; see
docs/design/disk.md, invariant 1.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from nvr.core.state import StateStore

_SEGMENT_COLUMNS = "id, camera, path, start_ms, end_ms, bytes"

# Keyset cursor over (start_ms, id): stable while rows are deleted behind it.
Cursor = tuple[int, int]
START_CURSOR: Cursor = (-(2**62), -1)


@dataclass(frozen=True)
class JanitorSegment:
    """A segment row as the janitor sees it: where the file is, what it spans, its size.

    Not nvr.core.tables.recordings.Segment (the full row with hashes and status, for listings and
    exports): deletion needs only these columns and reads thousands per pass.
    """

    id: int
    camera: str
    path: str
    start_ms: int
    end_ms: int
    bytes: int

    @property
    def cursor(self) -> Cursor:
        """Position of this row in the oldest-first order."""
        return (self.start_ms, self.id)


@dataclass(frozen=True)
class GarbageRow:
    """A file queued for deletion: its row is gone, the file may still exist."""

    id: int
    camera: str
    path: str
    bytes: int
    reason: str


class Protections:
    """Evidence ranges per camera; a segment overlapping one is never deleted."""

    def __init__(self, ranges: Iterable[tuple[str, int, int]]) -> None:
        self._by_camera: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for camera, from_ms, to_ms in ranges:
            self._by_camera[camera].append((from_ms, to_ms))

    @classmethod
    def load(cls, conn: sqlite3.Connection) -> Protections:
        """Read every protection (the table is small: one row per incident)."""
        rows = conn.execute("SELECT camera, from_ms, to_ms FROM protections").fetchall()
        return cls((row[0], row[1], row[2]) for row in rows)

    def covers(self, segment: JanitorSegment) -> bool:
        """True when any protection of the segment's camera overlaps it."""
        return any(
            segment.start_ms <= to_ms and segment.end_ms >= from_ms
            for from_ms, to_ms in self._by_camera.get(segment.camera, ())
        )

    def __bool__(self) -> bool:
        return bool(self._by_camera)


def _segments(rows: Iterable[sqlite3.Row]) -> list[JanitorSegment]:
    return [JanitorSegment(r[0], r[1], r[2], r[3], r[4], r[5]) for r in rows]


def oldest_segments(conn: sqlite3.Connection, after: Cursor, limit: int) -> list[JanitorSegment]:
    """Segments after `after` in oldest-first order, across all cameras.

    Rows marked missing hold no disk space, so the space-driven pass skips them; retention
    removes them in time.
    """
    rows = conn.execute(
        f"SELECT {_SEGMENT_COLUMNS} FROM segments WHERE (start_ms, id) > (?, ?)"
        " AND status != 'missing' ORDER BY start_ms, id LIMIT ?",
        (after[0], after[1], limit),
    )
    return _segments(rows)


def expired_segments(
    conn: sqlite3.Connection, camera: str, cutoff_ms: int, after: Cursor, limit: int
) -> list[JanitorSegment]:
    """Segments of `camera` that ended before `cutoff_ms`, oldest first."""
    rows = conn.execute(
        f"SELECT {_SEGMENT_COLUMNS} FROM segments WHERE camera = ? AND start_ms < ?"
        " AND end_ms < ? AND (start_ms, id) > (?, ?) ORDER BY start_ms, id LIMIT ?",
        (camera, cutoff_ms, cutoff_ms, after[0], after[1], limit),
    )
    return _segments(rows)


def indexed_cameras(conn: sqlite3.Connection) -> list[str]:
    """Distinct cameras in the index by skipping along `segments_camera_start`.

    A plain SELECT DISTINCT reads every row; this takes one index probe per camera.
    """
    rows = conn.execute(
        "WITH RECURSIVE c(camera) AS ("
        " SELECT MIN(camera) FROM segments"
        " UNION ALL"
        " SELECT (SELECT MIN(camera) FROM segments WHERE camera > c.camera)"
        " FROM c WHERE c.camera IS NOT NULL)"
        " SELECT camera FROM c WHERE camera IS NOT NULL"
    )
    return [row[0] for row in rows]


def write_rates(
    conn: sqlite3.Connection, now_ms: int, window_ms: int, min_span_ms: int
) -> dict[str, float]:
    """Bytes per second each camera wrote over the last `window_ms` (from the index)."""
    rows = conn.execute(
        # INDEXED BY: left alone, the planner walks segments_camera_start for the GROUP BY,
        # which reads every row of the index instead of the last hour's.
        "SELECT camera, SUM(bytes), MIN(start_ms), MAX(end_ms) FROM segments"
        " INDEXED BY segments_start WHERE start_ms >= ? GROUP BY camera",
        (now_ms - window_ms,),
    )
    rates: dict[str, float] = {}
    for camera, total, first, last in rows:
        span_ms = max(min_span_ms, min(window_ms, last - first))
        rates[camera] = total * 1000.0 / span_ms
    return rates


def move_to_garbage(
    store: StateStore, segments: Sequence[JanitorSegment], reason: str, now_ms: int
) -> tuple[list[GarbageRow], int]:
    """Move rows to the garbage table in one short transaction.

    Protections are re-read inside the transaction, so a range protected after the
    candidates were chosen is still honoured (docs/design/disk.md, invariant 3).
    Returns the garbage rows and how many candidates turned out to be protected.
    """
    moved: list[GarbageRow] = []
    with store.write() as conn:
        protections = Protections.load(conn)
        keep = [s for s in segments if not protections.covers(s)]
        for segment in keep:
            cursor = conn.execute(
                "INSERT INTO garbage (camera, path, bytes, start_ms, reason, queued_at_ms)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (segment.camera, segment.path, segment.bytes, segment.start_ms, reason, now_ms),
            )
            moved.append(
                GarbageRow(
                    int(cursor.lastrowid or 0), segment.camera, segment.path, segment.bytes, reason
                )
            )
        keep_tombstones(conn, keep, reason, now_ms)
        conn.executemany("DELETE FROM segments WHERE id = ?", [(s.id,) for s in keep])
        prune_tombstones(conn, {s.camera for s in keep})
    return moved, len(segments) - len(keep)


def keep_tombstones(
    conn: sqlite3.Connection, segments: Sequence[JanitorSegment], reason: str, now_ms: int
) -> None:
    """Keep each deleted row's hash and chain link, in the transaction that deletes it.

    `nvrctl recordings verify` and clip manifests follow the chain across deleted segments
    (docs/design/evidence.md, invariant 2).
    """
    conn.executemany(
        "INSERT OR IGNORE INTO segment_tombstones (segment_id, camera, path, start_ms, end_ms,"
        " sha256, chain_sha256, status, reason, deleted_at_ms) SELECT id, camera, path,"
        " start_ms, end_ms, sha256, chain_sha256, status, ?, ? FROM segments"
        " WHERE id = ? AND sha256 IS NOT NULL",
        [(reason, now_ms, s.id) for s in segments],
    )


def prune_tombstones(conn: sqlite3.Connection, cameras: Iterable[str]) -> None:
    """Drop tombstones older than a camera's oldest live row, but the one it links to.

    Retention deletes from the old end, so without this the table would grow by one row
    per segment forever; what verification needs is only the part of the chain that still
    has live rows after it.
    """
    for camera in sorted(cameras):
        conn.execute(
            "DELETE FROM segment_tombstones WHERE camera = :camera AND segment_id <"
            " (SELECT max(segment_id) FROM segment_tombstones WHERE camera = :camera"
            " AND segment_id < (SELECT coalesce(min(id), :no_limit) FROM segments"
            " WHERE camera = :camera))",
            {"camera": camera, "no_limit": 2**62},
        )


def queue_orphan(
    store: StateStore, camera: str, path: str, size: int, start_ms: int, now_ms: int
) -> GarbageRow | None:
    """Queue an unindexed file for deletion, unless a row for it appeared meanwhile."""
    with store.write() as conn:
        if conn.execute("SELECT 1 FROM segments WHERE path = ?", (path,)).fetchone():
            return None
        cursor = conn.execute(
            "INSERT INTO garbage (camera, path, bytes, start_ms, reason, queued_at_ms)"
            " VALUES (?, ?, ?, ?, 'reconcile', ?)",
            (camera, path, size, start_ms, now_ms),
        )
    return GarbageRow(int(cursor.lastrowid or 0), camera, path, size, "reconcile")


def pending_garbage(conn: sqlite3.Connection, limit: int) -> list[GarbageRow]:
    """Garbage rows left by a crash or a failed unlink, oldest first."""
    rows = conn.execute(
        "SELECT id, camera, path, bytes, reason FROM garbage ORDER BY id LIMIT ?", (limit,)
    )
    return [GarbageRow(r[0], r[1], r[2], r[3], r[4]) for r in rows]


def drop_garbage(store: StateStore, ids: Sequence[int]) -> None:
    """Forget garbage rows whose files are durably gone."""
    if not ids:
        return
    with store.write() as conn:
        conn.executemany("DELETE FROM garbage WHERE id = ?", [(i,) for i in ids])


def indexed_paths(conn: sqlite3.Connection, prefix: str) -> set[str]:
    """Paths under `prefix` (e.g. `cam01/2026-11-21/`) in the index or queued as garbage."""
    upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    rows = conn.execute(
        "SELECT path FROM segments WHERE path >= ? AND path < ?"
        " UNION SELECT path FROM garbage WHERE path >= ? AND path < ?",
        (prefix, upper, prefix, upper),
    )
    return {row[0] for row in rows}
