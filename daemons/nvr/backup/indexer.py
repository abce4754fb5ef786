"""Indexing closed segments: name the file, sync it and its directory, then commit the row.

That order (Moonfire's) means a row never points at data that a power cut could still take
away. Runs on its own thread with its own state-file connection, so hashing a minute of
1080p video for 32 cameras never delays the supervisor loop. See docs/design/recording.md,
invariants 1-3 and 8.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import queue
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

from nvr.backup.paths import STAGED_NAME, is_staged, place_segment
from nvr.backup.recorder import FinishedSegment
from nvr.core.chain import chain_tip
from nvr.core.durable import fsync_directory
from nvr.core.process import run_child
from nvr.core.state import StateStore, now_ms
from nvr.core.tables.recordings import HASH_CHUNK_BYTES, chain_hash
from nvr.core.threadname import name_os_thread

log = logging.getLogger(__name__)

# A segment killed in its first fragment is a bare header (28 bytes for fMP4 here): it
# holds no video, so it is removed rather than indexed or called corrupt.
MIN_SEGMENT_BYTES = 1024
PROBE_TIMEOUT_SECONDS = 30
# How much later than its predecessor's end a partial file of one ffmpeg run may seem to
# start and still be taken for its continuation (invariant 10): its modification time can
# run up to the 5 s flush interval plus ext4's 5 s commit ahead of its last whole fragment.
CONTINUATION_WINDOW_MS = 15_000


def hash_and_sync(path: Path) -> str:
    """SHA-256 of the file, then fsync it and its directory."""
    digest = hashlib.sha256()
    fd = os.open(path, os.O_RDONLY)
    try:
        while chunk := os.read(fd, HASH_CHUNK_BYTES):
            digest.update(chunk)
        os.fsync(fd)
    finally:
        os.close(fd)
    fsync_directory(path.parent)
    return digest.hexdigest()


def probe_duration_ms(ffprobe_bin: str, path: Path) -> int | None:
    """Video held by a media file in ms (first packet to end of last), None if unreadable.

    From the packets, not the container's duration: the first segment of a run can start
    with an offset (the camera's first keyframe arrived late), which the container's
    duration counts as video (docs/design/recording.md, invariant 10).
    """
    try:
        result = run_child(
            [ffprobe_bin, "-v", "error", "-select_streams", "v:0", "-show_entries",
             "packet=pts_time,duration_time", "-of", "json", str(path)],
            PROBE_TIMEOUT_SECONDS,
        )  # fmt: skip
        packets = json.loads(result.stdout or "{}").get("packets", [])
        times = [
            (float(p["pts_time"]), float(p.get("duration_time", 0)))
            for p in packets
            if p.get("pts_time") not in (None, "N/A")
        ]
    except (OSError, subprocess.TimeoutExpired, json.JSONDecodeError, ValueError):
        return None
    if result.returncode != 0 or not times:
        return None
    first = min(pts for pts, _ in times)
    last = max(pts + duration for pts, duration in times)
    return round((last - first) * 1000)


@dataclass(frozen=True)
class SegmentRow:
    """What the index says about one file."""

    camera: str
    path: str
    start_ms: int
    end_ms: int
    bytes: int
    sha256: str


def insert_segment(store: StateStore, row: SegmentRow) -> bool:
    """Commit the row, chained to the camera's previous segment. False if already indexed."""
    with store.write() as conn:
        chain = chain_hash(chain_tip(conn, row.camera), row.sha256)
        cursor = conn.execute(
            "INSERT INTO segments (camera, path, start_ms, end_ms, bytes, sha256, chain_sha256,"
            " status, created_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?, 'ok', ?)"
            " ON CONFLICT (path) DO NOTHING",
            (
                row.camera,
                row.path,
                row.start_ms,
                row.end_ms,
                row.bytes,
                row.sha256,
                chain,
                now_ms(),
            ),
        )
    return cursor.rowcount == 1


def previous_end(store: StateStore, segment: FinishedSegment) -> int | None:
    """Where the file before this partial one in the same ffmpeg run ended, if any.

    Files of one run are numbered (`<run>-<n>`) and indexed in order, so for n > 0 the
    camera's newest row is the file ffmpeg closed as it opened this one. None for a run's
    first file and for files ffmpeg reported closed (their end is exact). Any status, not
    `latest_segment`'s ok rows only: a quarantined predecessor's span is not this file's.
    """
    match = STAGED_NAME.match(Path(segment.path).name)
    if segment.duration_ms is not None or match is None or int(match.group(2)) == 0:
        return None
    row = (
        store.read()
        .execute(
            "SELECT end_ms FROM segments WHERE camera = ? ORDER BY id DESC LIMIT 1",
            (segment.camera,),
        )
        .fetchone()
    )
    return None if row is None else int(row[0])


def segment_times(
    segment: FinishedSegment, duration_ms: int, previous_end_ms: int | None
) -> tuple[int, int]:
    """(start_ms, end_ms) of a readable segment (invariant 10).

    The end is when ffmpeg closed it, the start that minus its video. A partial file (left
    by a dead ffmpeg or a power cut) has no close: its end is its modification time, which
    can be seconds later than its last whole fragment. When it continues its predecessor,
    its video starts where that one ended and lasts its measured duration; end minus
    duration would open a hole before it that coverage could not explain ("not
    recording" just before a power cut) and put the power-loss gap after video that is not
    there.
    """
    start_ms, end_ms = segment.end_ms - duration_ms, segment.end_ms
    if previous_end_ms is None or not 0 <= start_ms - previous_end_ms <= CONTINUATION_WINDOW_MS:
        return start_ms, end_ms
    return previous_end_ms, min(end_ms, previous_end_ms + duration_ms)


class Indexer:
    """A queue of closed segments and the thread that indexes them in order."""

    def __init__(self, state_file: Path, recordings_dir: Path, ffprobe_bin: str) -> None:
        self._state_file = state_file
        self._recordings_dir = recordings_dir
        self._ffprobe = ffprobe_bin
        self._queue: queue.Queue[FinishedSegment | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="indexer", daemon=True)
        self.indexed = 0

    def start(self) -> None:
        """Start the indexing thread."""
        self._thread.start()

    def submit(self, segment: FinishedSegment) -> None:
        """Queue a segment (any thread)."""
        self._queue.put(segment)

    def backlog(self) -> int:
        """Segments waiting to be indexed."""
        return self._queue.qsize()

    def close(self) -> None:
        """Index everything queued, then stop the thread."""
        self._queue.put(None)
        self._thread.join()

    def _run(self) -> None:
        name_os_thread()
        store = StateStore.open(self._state_file)
        try:
            while (segment := self._queue.get()) is not None:
                try:
                    self.index(store, segment)
                except Exception:
                    # One bad file must not stop the indexing of every later segment.
                    log.exception("camera=%s cannot index %s", segment.camera, segment.path)
        finally:
            store.close()

    def index(self, store: StateStore, segment: FinishedSegment) -> None:
        """Index one segment: size check, duration, dated name, hash and sync, row."""
        path = self._recordings_dir / segment.path
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            log.error("camera=%s segment %s reported but not on disk", segment.camera, path)
            return
        if size < MIN_SEGMENT_BYTES:
            log.info("camera=%s removing empty segment %s (%d bytes)", segment.camera, path, size)
            path.unlink(missing_ok=True)
            return
        duration = segment.duration_ms
        if duration is None:
            duration = probe_duration_ms(self._ffprobe, path)
        readable = duration is not None and duration > 0
        start_ms, end_ms = segment.end_ms, segment.end_ms
        if duration is not None and duration > 0:
            start_ms, end_ms = segment_times(segment, duration, previous_end(store, segment))
        relative = segment.path
        if is_staged(relative):
            relative = place_segment(self._recordings_dir, relative, start_ms)
        sha256 = hash_and_sync(self._recordings_dir / relative)
        row = SegmentRow(segment.camera, relative, start_ms, end_ms, size, sha256)
        if not readable:
            log.warning("camera=%s unreadable segment %s kept as quarantined", row.camera, relative)
            self._insert_quarantined(store, row)
        elif insert_segment(store, row):
            self.indexed += 1
            log.debug("camera=%s indexed %s (%d bytes)", row.camera, relative, size)

    def _insert_quarantined(self, store: StateStore, row: SegmentRow) -> None:
        # Kept (not deleted): it may still be evidence a specialist can recover; the
        # janitor removes it with its age like any other segment.
        with store.write() as conn:
            conn.execute(
                "INSERT INTO segments (camera, path, start_ms, end_ms, bytes, sha256,"
                " status, created_at_ms) VALUES (?, ?, ?, ?, ?, ?, 'quarantined', ?)"
                " ON CONFLICT (path) DO NOTHING",
                (row.camera, row.path, row.start_ms, row.start_ms, row.bytes, row.sha256, now_ms()),
            )
