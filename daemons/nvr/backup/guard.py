"""The mount guard: never record onto the root filesystem, never onto a read-only disk.

When the recordings disk is not mounted its mount point is still an ordinary directory on
the root filesystem; recording there would fill root and take the state file down with it.
"""

from __future__ import annotations

import os
from pathlib import Path

from nvr.core.recordings import EndReason


def storage_problem(recordings_dir: Path, require_mount: bool) -> EndReason | None:
    """Why recording into recordings_dir is not allowed right now, or None."""
    if not recordings_dir.is_dir():
        return EndReason.DISK_NOT_MOUNTED
    if require_mount and not os.path.ismount(recordings_dir):
        return EndReason.DISK_NOT_MOUNTED
    if os.statvfs(recordings_dir).f_flag & os.ST_RDONLY:
        return EndReason.DISK_READ_ONLY
    return None
