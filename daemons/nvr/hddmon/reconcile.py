"""Reconcile: make the index and the recordings disk agree again after a crash or a repair.

Rows whose file is gone are marked `missing` (and back to `ok` if the file returns);
files without a row (orphans) are reported, and deleted through the garbage table once
they are old enough that nvr-backup will not index them any more. Files that do not look
like segments are reported and never touched. See docs/design/disk.md, "Reconcile".
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from nvr.core.state import StateStore
from nvr.hddmon.constants import (
    MISSING_SANITY_FRACTION,
    MISSING_SANITY_MIN_ROWS,
    RECONCILE_LOG_LIMIT,
    SEGMENT_EXTENSIONS,
)
from nvr.hddmon.index import indexed_paths
from nvr.hddmon.janitor import Janitor

log = logging.getLogger(__name__)

# `08-00-00.mp4`, or `08-00-00~2.mp4` when nvr-backup found the name taken (clock step back).
_SEGMENT_NAME = re.compile(r"^(\d{2})-(\d{2})-(\d{2})(?:~\d+)?\.([a-z0-9]+)$")


@dataclass
class ReconcileReport:
    """What one full reconcile pass found and repaired."""

    rows_checked: int = 0
    marked_missing: list[str] = field(default_factory=list)
    restored: list[str] = field(default_factory=list)
    orphans_deleted: list[str] = field(default_factory=list)
    orphans_waiting: list[str] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)
    refused_missing: int = 0

    @property
    def repaired_anything(self) -> bool:
        """True when the pass changed the index or the disk (worth an event)."""
        return bool(
            self.marked_missing or self.restored or self.orphans_deleted or self.refused_missing
        )

    def summary(self) -> str:
        """One line with the counts."""
        return (
            f"reconcile: {len(self.marked_missing)} rows without file marked missing, "
            f"{len(self.restored)} restored, {len(self.orphans_deleted)} orphan files deleted, "
            f"{len(self.orphans_waiting)} orphans younger than the grace period kept, "
            f"{len(self.foreign)} unknown files left alone"
        )

    def event_data(self) -> dict[str, object]:
        """Counts and the first few paths of each kind."""
        return {
            "rows_checked": self.rows_checked,
            "marked_missing": self.marked_missing[:RECONCILE_LOG_LIMIT],
            "marked_missing_count": len(self.marked_missing),
            "restored_count": len(self.restored),
            "orphans_deleted": self.orphans_deleted[:RECONCILE_LOG_LIMIT],
            "orphans_deleted_count": len(self.orphans_deleted),
            "orphans_waiting_count": len(self.orphans_waiting),
            "foreign": self.foreign[:RECONCILE_LOG_LIMIT],
            "refused_missing": self.refused_missing,
        }


def segment_start_ms(day: str, name: str) -> int | None:
    """UTC ms from `2026-11-21` and `08-00-00.mp4`, or None if not a segment name."""
    match = _SEGMENT_NAME.match(name)
    if match is None or f".{match.group(4)}" not in SEGMENT_EXTENSIONS:
        return None
    try:
        start = datetime.strptime(f"{day} {name[:8]}", "%Y-%m-%d %H-%M-%S").replace(tzinfo=UTC)
    except ValueError:
        return None
    return int(start.timestamp() * 1000)


class Reconciler:
    """One reconcile pass, done in chunks so that a tick stays short."""

    def __init__(
        self,
        store: StateStore,
        janitor: Janitor,
        recordings_dir: Path,
        clock_ms: Callable[[], int],
        orphan_min_age_ms: int,
    ) -> None:
        self.store = store
        self.janitor = janitor
        self.root = recordings_dir
        self._clock_ms = clock_ms
        self.orphan_min_age_ms = orphan_min_age_ms
        self.report = ReconcileReport()
        self.active = False
        self._row_cursor = 0
        self._rows_done = False
        self._folders: Iterator[Path] = iter(())
        # Foreign files and young orphans persist across passes: say so once per path.
        self._reported: set[str] = set()

    def begin(self) -> None:
        """Start a new pass from the first row and the first folder."""
        self.report = ReconcileReport()
        self.active = True
        self._row_cursor = 0
        self._rows_done = False
        self._folders = self._day_folders()

    def step(self, row_limit: int, folder_limit: int) -> bool:
        """Do one chunk of the pass; True when the pass is complete."""
        if not self._rows_done:
            self._rows_done = self._check_rows(row_limit)
            return False
        for _ in range(folder_limit):
            folder = next(self._folders, None)
            if folder is None:
                self.active = False
                return True
            self._check_folder(folder)
        return False

    def _check_rows(self, limit: int) -> bool:
        """Check `limit` rows for their files; True when every row has been seen."""
        rows = (
            self.store.read()
            .execute(
                "SELECT id, path, status FROM segments WHERE id > ? AND status != 'quarantined'"
                " ORDER BY id LIMIT ?",
                (self._row_cursor, limit),
            )
            .fetchall()
        )
        if not rows:
            return True
        self._row_cursor = rows[-1][0]
        self.report.rows_checked += len(rows)
        gone = [(r[0], r[1]) for r in rows if r[2] == "ok" and not (self.root / r[1]).exists()]
        back = [(r[0], r[1]) for r in rows if r[2] == "missing" and (self.root / r[1]).exists()]
        self._mark(gone, back, len(rows))
        return len(rows) < limit

    def _mark(self, gone: list[tuple[int, str]], back: list[tuple[int, str]], seen: int) -> None:
        if len(gone) >= MISSING_SANITY_MIN_ROWS and len(gone) > seen * MISSING_SANITY_FRACTION:
            # A whole disk's worth of files gone at once is an unmounted or swapped disk;
            # the rows are the only record of what was recorded, so keep them as they are.
            log.error(
                "reconcile: %d of %d indexed files are missing under %s; not marking them "
                "(disk unmounted or replaced?)",
                len(gone),
                seen,
                self.root,
            )
            self.report.refused_missing += len(gone)
            gone = []
        if not gone and not back:
            return
        with self.store.write() as conn:
            conn.executemany(
                "UPDATE segments SET status = 'missing' WHERE id = ? AND status = 'ok'",
                [(i,) for i, _ in gone],
            )
            conn.executemany(
                "UPDATE segments SET status = 'ok' WHERE id = ? AND status = 'missing'",
                [(i,) for i, _ in back],
            )
        for _, path in gone:
            self._log_some(
                self.report.marked_missing, "reconcile: file gone, row marked missing path=%s", path
            )
        for _, path in back:
            self._log_some(
                self.report.restored, "reconcile: file is back, row marked ok path=%s", path
            )

    def _log_some(self, bucket: list[str], message: str, path: str, once: bool = False) -> None:
        """Log the first few paths of a kind; with `once`, each path only in its first pass."""
        bucket.append(path)
        if once:
            if path in self._reported:
                return
            self._reported.add(path)
        if len(bucket) <= RECONCILE_LOG_LIMIT:
            log.warning(message, path)

    def _day_folders(self) -> Iterator[Path]:
        """`<camera>/<day>` folders; anything else at those levels is a foreign file."""
        try:
            cameras = sorted(p for p in self.root.iterdir() if not p.name.startswith("."))
        except OSError as err:
            log.error("reconcile: cannot list %s: %s", self.root, err.strerror or err)
            return
        for camera in cameras:
            if not camera.is_dir():
                self._foreign(camera)
                continue
            for day in sorted(camera.iterdir()):
                if day.name.startswith("."):
                    continue  # nvr-backup's staging directory: files ffmpeg is writing
                if day.is_dir():
                    yield day
                else:
                    self._foreign(day)

    def _foreign(self, path: Path) -> None:
        self._log_some(
            self.report.foreign,
            "reconcile: not a segment, left alone path=%s",
            str(path.relative_to(self.root)),
            once=True,
        )

    def _check_folder(self, folder: Path) -> None:
        """Compare one day folder with the index."""
        prefix = f"{folder.parent.name}/{folder.name}/"
        known = indexed_paths(self.store.read(), prefix)
        for entry in sorted(folder.iterdir()):
            relative = prefix + entry.name
            if relative in known:
                continue
            start_ms = segment_start_ms(folder.name, entry.name)
            if start_ms is None or not entry.is_file():
                self._foreign(entry)
                continue
            self._orphan(folder.parent.name, relative, entry, start_ms)

    def _orphan(self, camera: str, relative: str, entry: Path, start_ms: int) -> None:
        try:
            stat = entry.stat()
        except FileNotFoundError:
            return
        age_ms = self._clock_ms() - int(stat.st_mtime * 1000)
        if age_ms < self.orphan_min_age_ms:
            # Normally the segment nvr-backup is writing (indexed when it closes): every
            # camera has one at any time, so this is no warning (it was one per segment
            # after a restart). An orphan that outlives the grace period is.
            self.report.orphans_waiting.append(relative)
            log.debug("reconcile: file without row, recent (not indexed yet) path=%s", relative)
            return
        log.warning(
            "reconcile: orphan file without row camera=%s path=%s bytes=%d age_h=%.1f",
            camera,
            relative,
            stat.st_size,
            age_ms / 3_600_000,
        )
        if self.janitor.delete_orphan(camera, relative, stat.st_size, start_ms):
            self.report.orphans_deleted.append(relative)
