"""Indexing closed segments: sync the file, sync its directory, then commit the row.

That order (Moonfire's) means a row never points at data that a power cut could still take
away. Runs on its own thread with its own state-file connection, so hashing a minute of
1080p video for 32 cameras never delays the supervisor loop. See docs/design/recording.md,
invariants 1-3.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import queue
import subprocess
import threading
from pathlib import Path

from nvr.backup.recorder import FinishedSegment
from nvr.core.chain import chain_tip
from nvr.core.durable import fsync_directory
from nvr.core.recordings import HASH_CHUNK_BYTES, chain_hash
from nvr.core.state import StateStore, now_ms

log = logging.getLogger(__name__)

# A segment killed in its first fragment is a bare header (28 bytes for fMP4 here): it
# holds no video, so it is removed rather than indexed or called corrupt.
MIN_SEGMENT_BYTES = 1024
PROBE_TIMEOUT_SECONDS = 30


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
    """Duration of a media file in ms, or None if ffprobe cannot read it."""
    try:
        result = subprocess.run(
            [ffprobe_bin, "-v", "error", "-show_entries", "format=duration", "-of", "json", path],
            capture_output=True,
            text=True,
            timeout=PROBE_TIMEOUT_SECONDS,
            check=False,
        )
        duration = json.loads(result.stdout or "{}").get("format", {}).get("duration")
    except (OSError, subprocess.TimeoutExpired, json.JSONDecodeError):
        return None
    if result.returncode != 0 or duration in (None, "N/A"):
        return None
    return int(float(duration) * 1000)


def insert_segment(
    store: StateStore, segment: FinishedSegment, duration_ms: int, size: int, sha256: str
) -> bool:
    """Commit the row, chained to the camera's previous segment. False if already indexed."""
    with store.write() as conn:
        chain = chain_hash(chain_tip(conn, segment.camera), sha256)
        cursor = conn.execute(
            "INSERT INTO segments (camera, path, start_ms, end_ms, bytes, sha256, chain_sha256,"
            " status, created_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?, 'ok', ?)"
            " ON CONFLICT (path) DO NOTHING",
            (
                segment.camera,
                segment.path,
                segment.start_ms,
                segment.start_ms + duration_ms,
                size,
                sha256,
                chain,
                now_ms(),
            ),
        )
    return cursor.rowcount == 1


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
        """Index one segment: size check, hash and sync, duration, row."""
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
        sha256 = hash_and_sync(path)
        duration = segment.duration_ms
        if duration is None:
            duration = probe_duration_ms(self._ffprobe, path)
        if duration is None or duration <= 0:
            log.warning("camera=%s unreadable segment %s kept as quarantined", segment.camera, path)
            self._insert_quarantined(store, segment, size, sha256)
            return
        if insert_segment(store, segment, duration, size, sha256):
            self.indexed += 1
            log.debug("camera=%s indexed %s (%d bytes)", segment.camera, segment.path, size)

    def _insert_quarantined(
        self, store: StateStore, segment: FinishedSegment, size: int, sha256: str
    ) -> None:
        # Kept (not deleted): it may still be evidence a specialist can recover; the
        # janitor removes it with its age like any other segment.
        with store.write() as conn:
            conn.execute(
                "INSERT INTO segments (camera, path, start_ms, end_ms, bytes, sha256,"
                " status, created_at_ms) VALUES (?, ?, ?, ?, ?, ?, 'quarantined', ?)"
                " ON CONFLICT (path) DO NOTHING",
                (
                    segment.camera,
                    segment.path,
                    segment.start_ms,
                    segment.start_ms,
                    size,
                    sha256,
                    now_ms(),
                ),
            )
