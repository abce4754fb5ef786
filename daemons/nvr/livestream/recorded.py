"""What playback reads from the index: the segments of a range, the one being written.

Read-only: playback never writes a segment row nor a file of the recordings tree
(docs/design/playback.md, invariant 3).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from nvr.core.recordings import Segment, latest_segment, list_segments
from nvr.livestream.fmp4 import Fmp4Error, index_fragments

STAGING_DIR = ".incoming"  # nvr-backup's staging directory (backup/paths.py)
OPEN_STATUS = "open"


def segment_by_id(conn: sqlite3.Connection, camera: str, segment_id: int) -> Segment | None:
    """One closed segment of `camera`, or None (deleted by retention, another camera's)."""
    row = conn.execute(
        "SELECT id, camera, path, start_ms, end_ms, bytes, sha256, chain_sha256, status"
        " FROM segments WHERE id = ? AND camera = ? AND status = 'ok'",
        (segment_id, camera),
    ).fetchone()
    return Segment(*row) if row else None


def open_segment(conn: sqlite3.Connection, recordings_dir: Path, camera: str) -> Segment | None:
    """The file ffmpeg is writing now, as a segment from its start to its last write.

    It is not indexed until it closes; its start is where the camera's newest indexed
    segment ended (segments follow each other within a run), or the run's start for the
    first segment of a run; its end where its complete fragments end. None when the
    camera is not recording or nothing playable is written yet.
    """
    run = conn.execute(
        "SELECT started_at_ms FROM recording_runs WHERE camera = ? AND ended_at_ms IS NULL"
        " ORDER BY started_at_ms DESC LIMIT 1",
        (camera,),
    ).fetchone()
    staging = recordings_dir / camera / STAGING_DIR
    if run is None or not staging.is_dir():
        return None
    files = [p for p in staging.iterdir() if p.suffix in (".mp4", ".ts") and p.is_file()]
    if not files:
        return None
    newest = max(files, key=lambda p: p.stat().st_mtime)
    last = latest_segment(conn, camera)
    start_ms = max(int(run[0]), last.end_ms if last is not None else 0)
    end_ms = _written_until(newest, start_ms)
    if end_ms is None or end_ms <= start_ms:
        return None
    relative = f"{camera}/{STAGING_DIR}/{newest.name}"
    size = newest.stat().st_size
    return Segment(0, camera, relative, start_ms, end_ms, size, None, None, OPEN_STATUS)


def _written_until(path: Path, start_ms: int) -> int | None:
    """Where the written part of a growing file ends: its complete fragments (fMP4).

    ffmpeg writes in 256 KiB chunks, so the file usually ends inside a fragment; a file
    with no complete fragment yet has nothing to play. MPEG-TS: its last write.
    """
    if path.suffix != ".mp4":
        return int(path.stat().st_mtime * 1000)
    try:
        index = index_fragments(path)
    except (OSError, Fmp4Error):
        return None  # the header is not even written yet
    return start_ms + int(index.seconds * 1000) if index.fragments else None


def playable_segments(
    conn: sqlite3.Connection, recordings_dir: Path, camera: str, from_ms: int, to_ms: int
) -> list[Segment]:
    """The closed segments of the range, then the open one when the range reaches into it."""
    segments = list_segments(conn, camera, from_ms, to_ms)
    current = open_segment(conn, recordings_dir, camera)
    if current is not None and current.start_ms < to_ms and current.end_ms > from_ms:
        segments.append(current)
    return segments
