"""The janitor: deletes segments oldest-first, crash-safely, and accounts for what it did.

Procedure "Delete" (docs/design/disk.md): rows move to the garbage table in one short
transaction, the files are unlinked, their folders fsynced, and only then are the garbage
rows dropped. A crash anywhere leaves garbage rows that `finish_garbage` completes.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from nvr.core.state import StateStore
from nvr.hddmon import files
from nvr.hddmon.constants import DELETE_BATCH_ROWS, SCAN_BATCH_ROWS
from nvr.hddmon.index import (
    START_CURSOR,
    GarbageRow,
    JanitorSegment,
    Protections,
    drop_garbage,
    expired_segments,
    move_to_garbage,
    oldest_segments,
    pending_garbage,
    queue_orphan,
)
from nvr.hddmon.usage import format_bytes

log = logging.getLogger(__name__)


@dataclass
class PassResult:
    """What one deletion pass did."""

    reason: str
    count: int = 0
    bytes: int = 0
    per_camera: Counter[str] = field(default_factory=Counter)
    bytes_per_camera: Counter[str] = field(default_factory=Counter)
    protected_skipped: int = 0
    failed: int = 0
    exhausted: bool = False  # no candidate left
    out_of_time: bool = False  # stopped by the tick's time budget

    def add(self, row: GarbageRow) -> None:
        """Count one deleted file."""
        self.count += 1
        self.bytes += row.bytes
        self.per_camera[row.camera] += 1
        self.bytes_per_camera[row.camera] += row.bytes

    def summary(self) -> str:
        """`deleted 42 segments (84.0 MB) for watermark: cam01 40 (80.0 MB), cam02 2 (...)`."""
        cameras = ", ".join(
            f"{camera} {count} ({format_bytes(self.bytes_per_camera[camera])})"
            for camera, count in sorted(self.per_camera.items())
        )
        return (
            f"deleted {self.count} segments ({format_bytes(self.bytes)}) for {self.reason}: "
            f"{cameras}"
        )

    def event_data(self) -> dict[str, object]:
        """The numbers, for the event's data_json."""
        return {
            "reason": self.reason,
            "count": self.count,
            "bytes": self.bytes,
            "cameras": {
                camera: {"count": count, "bytes": self.bytes_per_camera[camera]}
                for camera, count in sorted(self.per_camera.items())
            },
            "protected_skipped": self.protected_skipped,
            "failed": self.failed,
        }


class Janitor:
    """Deletes through the garbage table; keeps the time it spent in the state file."""

    def __init__(
        self,
        store: StateStore,
        recordings_dir: Path,
        clock_ms: Callable[[], int],
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.root = recordings_dir
        self._clock_ms = clock_ms
        self._monotonic = monotonic
        self.db_seconds = 0.0
        self.freed_bytes = 0  # since start, for the heartbeat and the benchmark

    @contextlib.contextmanager
    def _db(self) -> Iterator[None]:
        """Account the time of a state-file operation (the benchmark reports it)."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.db_seconds += time.perf_counter() - started

    def finish_garbage(self, reason: str = "leftover") -> PassResult:
        """Complete deletions a crash or a failed unlink left in the garbage table."""
        result = PassResult(reason=reason)
        while True:
            with self._db():
                rows = pending_garbage(self.store.read(), DELETE_BATCH_ROWS)
            done = self._remove_files(rows, result)
            if len(done) < len(rows) or len(rows) < DELETE_BATCH_ROWS:
                # Stop on the first failure: the rows stay for the next pass.
                return result

    def delete(self, segments: Sequence[JanitorSegment], reason: str, result: PassResult) -> None:
        """Delete `segments` (at most one batch) by the garbage procedure."""
        with self._db():
            moved, protected = move_to_garbage(self.store, segments, reason, self._clock_ms())
        result.protected_skipped += protected
        self._remove_files(moved, result)

    def delete_orphan(self, camera: str, path: str, size: int, start_ms: int) -> bool:
        """Delete a file that has no row, through the garbage table like any other."""
        with self._db():
            row = queue_orphan(self.store, camera, path, size, start_ms, self._clock_ms())
        if row is None:
            return False  # nvr-backup indexed it meanwhile
        result = PassResult(reason="reconcile")
        return len(self._remove_files([row], result)) == 1

    def _remove_files(self, rows: Sequence[GarbageRow], result: PassResult) -> list[GarbageRow]:
        done: list[GarbageRow] = []
        folders: set[Path] = set()
        for row in rows:
            if not files.unlink(self.root, row.path):
                result.failed += 1
                continue
            done.append(row)
            folders.add((self.root / row.path).parent)
            log.info(
                "deleted camera=%s path=%s bytes=%d reason=%s",
                row.camera,
                row.path,
                row.bytes,
                row.reason,
            )
        files.sync_directories(folders)
        with self._db():
            drop_garbage(self.store, [row.id for row in done])
        for row in done:
            result.add(row)
            self.freed_bytes += row.bytes
        today = datetime.fromtimestamp(self._clock_ms() / 1000, UTC)
        files.remove_empty_day_dirs(folders, today)
        return done

    def free_space(self, need_bytes: int, reason: str, deadline: float) -> PassResult:
        """Delete the oldest unprotected segments of all cameras until `need_bytes` are freed."""
        result = PassResult(reason=reason)
        with self._db():
            protections = Protections.load(self.store.read())
        cursor = START_CURSOR
        while result.bytes < need_bytes:
            if self._monotonic() >= deadline:
                result.out_of_time = True
                break
            with self._db():
                rows = oldest_segments(self.store.read(), cursor, SCAN_BATCH_ROWS)
            if not rows:
                result.exhausted = True
                break
            cursor = rows[-1].cursor
            batch = self._take(rows, protections, need_bytes - result.bytes, result)
            for start in range(0, len(batch), DELETE_BATCH_ROWS):
                self.delete(batch[start : start + DELETE_BATCH_ROWS], reason, result)
        return result

    @staticmethod
    def _take(
        rows: Sequence[JanitorSegment], protections: Protections, need: int, result: PassResult
    ) -> list[JanitorSegment]:
        """The unprotected prefix of `rows` that covers `need` bytes."""
        taken: list[JanitorSegment] = []
        planned = 0
        for segment in rows:
            if protections.covers(segment):
                result.protected_skipped += 1
                continue
            taken.append(segment)
            planned += segment.bytes
            if planned >= need:
                break
        return taken

    def apply_retention(self, cutoffs: Mapping[str, int], deadline: float) -> PassResult:
        """Delete every unprotected segment that ended before its camera's cutoff."""
        result = PassResult(reason="retention")
        with self._db():
            protections = Protections.load(self.store.read())
        for camera, cutoff_ms in sorted(cutoffs.items()):
            if not self._expire_camera(camera, cutoff_ms, protections, deadline, result):
                result.out_of_time = True
                break
        return result

    def _expire_camera(
        self,
        camera: str,
        cutoff_ms: int,
        protections: Protections,
        deadline: float,
        result: PassResult,
    ) -> bool:
        """Retention for one camera; False when the time budget ran out."""
        cursor = START_CURSOR
        while True:
            if self._monotonic() >= deadline:
                return False
            with self._db():
                rows = expired_segments(
                    self.store.read(), camera, cutoff_ms, cursor, DELETE_BATCH_ROWS
                )
            if not rows:
                return True
            cursor = rows[-1].cursor
            batch = [s for s in rows if not protections.covers(s)]
            result.protected_skipped += len(rows) - len(batch)
            if batch:
                self.delete(batch, "retention", result)
