"""Files that must survive a power cut before a state-file row may point at them.

The order is always the same: the file's data on disk (fsync), its name in its directory
on disk (fsync of the directory), then the row. One implementation for nvr-backup's
segments, nvr-hddmon's deletions, snapshots and the upload spool.
"""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path


def fsync_directory(directory: Path) -> None:
    """Make the names created, renamed or removed in `directory` durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    except OSError as err:
        if err.errno != errno.EINVAL:  # some filesystems cannot fsync a directory
            raise
    finally:
        os.close(fd)


def fsync_data(path: Path) -> None:
    """Flush an existing file's data, also one another process is writing (read-only fd)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sync_file(path: Path) -> None:
    """An existing file and its name, durable (a spool file written by ffmpeg, say)."""
    fsync_data(path)
    fsync_directory(path.parent)


def write_atomically(path: Path, data: bytes, like: os.stat_result | None = None) -> None:
    """Write `data` to `path` so that a reader (or a power cut) sees the old or the new file.

    Temp file in the same directory, fsync, rename over `path`, fsync the directory. With
    `like`, the new file gets that file's mode and owner (a secret file keeps root:nvr 0640).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        if like is not None:
            os.fchmod(fd, like.st_mode & 0o777)
            os.fchown(fd, like.st_uid, like.st_gid)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_directory(path.parent)
