"""File operations of the janitor: unlink, make the unlink durable, tidy empty day folders."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from nvr.core.durable import fsync_directory

log = logging.getLogger(__name__)

DAY_FORMAT = "%Y-%m-%d"


def unlink(root: Path, relative: str) -> bool:
    """Remove `root/relative`; True when the file is gone (already absent counts).

    Any other failure (read-only disk, permission, I/O error) is logged and returns False:
    the garbage row stays and the next pass retries.
    """
    path = root / relative
    try:
        path.unlink()
    except FileNotFoundError:
        return True
    except OSError as err:
        log.error("cannot delete path=%s: %s", path, err.strerror or err)
        return False
    return True


def sync_directories(directories: Iterable[Path]) -> None:
    """Make the unlinks in each directory durable (fsync the directory) across a power cut.

    Only after this may the garbage rows go (docs/design/disk.md, procedure "Delete").
    On ext4 it also commits the journal, so statvfs sees the freed blocks at once.
    """
    for directory in directories:
        try:
            fsync_directory(directory)
        except FileNotFoundError:
            continue  # the whole folder went (an empty day removed)


def remove_empty_day_dirs(directories: Iterable[Path], today_utc: datetime) -> None:
    """Remove day folders emptied by the janitor, except today's and yesterday's.

    nvr-backup creates the folder of the current day just before ffmpeg opens a file in
    it; removing a recent empty folder could race with that and make ffmpeg fail.
    """
    oldest_kept = (today_utc - timedelta(days=1)).strftime(DAY_FORMAT)
    for directory in directories:
        if directory.name >= oldest_kept or not _is_day_name(directory.name):
            continue
        try:
            directory.rmdir()
        except OSError:
            continue  # not empty, or already gone: both fine
        log.info("removed empty folder path=%s", directory)


def _is_day_name(name: str) -> bool:
    try:
        datetime.strptime(name, DAY_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return False
    return True
