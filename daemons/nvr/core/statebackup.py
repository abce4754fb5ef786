"""Daily copies of the state file on the recordings disk, and putting one back.

The state file holds the index, the hash chain and the outbox; losing it to a corrupt
page (a dying SSD, a bug) would orphan every recording. nvr-hddmon takes a copy once a
day with SQLite's online backup API (a consistent snapshot while the daemons write),
checks it with `PRAGMA integrity_check`, and keeps the newest few. `nvrctl state restore`
puts one back (see docs/design/state.md, "Backups").
"""

from __future__ import annotations

import logging
import os
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from nvr.core.durable import fsync_directory, sync_file
from nvr.core.errors import StateError
from nvr.core.state import BUSY_TIMEOUT_MS

log = logging.getLogger(__name__)

# On the recordings disk, not beside the state file: a copy on the same device dies with
# it. The leading dot keeps it out of every camera-directory scan (nvr-backup, nvr-hddmon).
BACKUP_DIR_NAME = ".nvr-state-backups"
_STAMP = "%Y%m%dT%H%M%SZ"
_PREFIX = "state-"
_SUFFIX = ".db"


class StateBackupError(StateError):
    """A backup could not be taken or checked, or a restore could not proceed."""


@dataclass(frozen=True)
class Backup:
    """One kept copy."""

    path: Path
    taken_at: datetime


def backup_dir(recordings_dir: Path) -> Path:
    """Where the copies live."""
    return recordings_dir / BACKUP_DIR_NAME


def list_backups(directory: Path) -> list[Backup]:
    """Kept copies, newest first (by the time in their name)."""
    if not directory.is_dir():
        return []
    found = []
    for path in directory.glob(f"{_PREFIX}*{_SUFFIX}"):
        stamp = path.name.removeprefix(_PREFIX).removesuffix(_SUFFIX)
        try:
            taken = datetime.strptime(stamp, _STAMP).replace(tzinfo=UTC)
        except ValueError:
            continue
        found.append(Backup(path, taken))
    return sorted(found, key=lambda b: b.taken_at, reverse=True)


def integrity_problem(path: Path) -> str | None:
    """None when `PRAGMA integrity_check` says ok, else its first complaint."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_MS / 1000)
        try:
            rows = conn.execute("PRAGMA integrity_check").fetchall()
        finally:
            conn.close()
    except sqlite3.Error as err:
        return str(err)
    return None if rows == [("ok",)] else str(rows[0][0])


def take_backup(state_file: Path, directory: Path, keep: int, now: datetime) -> Backup:
    """Copy the live state file into `directory`, check the copy, keep the newest `keep`.

    The copy is written under a temporary name and renamed only once it passed the check
    and is on disk, so a kept copy is always a whole, checked one; a copy cut short (the
    daemon stopped, the box lost power) leaves a temporary file the next backup removes.
    """
    final = directory / f"{_PREFIX}{now.strftime(_STAMP)}{_SUFFIX}"
    partial = directory / f".{final.name}.partial"
    try:
        directory.mkdir(exist_ok=True)
        for stale in directory.glob(f".{_PREFIX}*.partial"):
            stale.unlink()
        _copy(state_file, partial)
        problem = integrity_problem(partial)
        if problem is not None:
            raise StateBackupError(f"state backup {final}: integrity check failed: {problem}")
        sync_file(partial)
        os.replace(partial, final)
        fsync_directory(directory)
        _prune(directory, keep)
    except (OSError, sqlite3.Error) as err:
        raise StateBackupError(f"state backup {final}: {err}") from err
    return Backup(final, now)


def _copy(source: Path, target: Path) -> None:
    """SQLite's online backup in one step, so a writer cannot restart it half-way.

    WAL readers do not block writers: the daemons carry on meanwhile.
    """
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_MS / 1000)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()


def _prune(directory: Path, keep: int) -> None:
    for old in list_backups(directory)[keep:]:
        old.path.unlink(missing_ok=True)
        log.info("state backup %s removed (keeping the newest %d)", old.path.name, keep)
    fsync_directory(directory)
