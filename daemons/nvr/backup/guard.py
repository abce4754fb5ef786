"""The storage guard: never record onto root, a read-only disk or an unwritable directory.

When the recordings disk is not mounted its mount point is still an ordinary directory on
the root filesystem; recording there would fill root and take the state file down with it.
A directory nvr-backup cannot write to (wrong owner after a disk swap, immutable) is the
box's problem, not the cameras': it blocks recording with its own reason instead of
sending every camera into back-off with "ffmpeg error".
"""

from __future__ import annotations

import os
from pathlib import Path

from nvr.core.tables.recordings import EndReason

# What the technician should do about each blocking reason (the event and the log say it).
REMEDY = {
    EndReason.DISK_NOT_MOUNTED: (
        "not recording onto the root filesystem; mount the recordings disk"
        " (or set storage.require_mount: false)"
    ),
    EndReason.DIRECTORY_MISSING: ("create it (owner nvr) or correct storage.recordings_dir"),
    EndReason.DISK_READ_ONLY: (
        "remount it read-write; a disk that turned read-only by itself has errors (dmesg)"
    ),
    EndReason.DIRECTORY_NOT_WRITABLE: (
        "nvr-backup may not write there: check its owner and mode (chown nvr:nvr) and"
        " attributes (lsattr -d)"
    ),
}


def storage_problem(recordings_dir: Path, require_mount: bool) -> EndReason | None:
    """Why recording into recordings_dir is not allowed right now, or None."""
    if not recordings_dir.is_dir():
        return EndReason.DIRECTORY_MISSING
    if require_mount and not os.path.ismount(recordings_dir):
        return EndReason.DISK_NOT_MOUNTED
    if os.statvfs(recordings_dir).f_flag & os.ST_RDONLY:
        return EndReason.DISK_READ_ONLY
    # access() answers for our own uid, and even for root it refuses an immutable directory.
    if not os.access(recordings_dir, os.W_OK | os.X_OK):
        return EndReason.DIRECTORY_NOT_WRITABLE
    return None
