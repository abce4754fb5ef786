"""Filesystem health checks that need no SMART: read-only mount, mount point, write probe."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from nvr.hddmon.constants import PROBE_BYTES, PROBE_FILE


@dataclass(frozen=True)
class ProbeResult:
    """A small write + fsync on the recordings filesystem."""

    ok: bool
    latency_ms: float
    error: str = ""


def is_read_only(path: Path) -> bool:
    """True when the filesystem holding `path` is mounted read-only.

    ext4 remounts itself read-only on I/O errors (errors=remount-ro): recording has stopped.
    """
    return bool(os.statvfs(path).f_flag & os.ST_RDONLY)


def is_mount_point(path: Path) -> bool:
    """True when `path` is the root of a mounted filesystem."""
    return os.path.ismount(path)


def probe_write(directory: Path) -> ProbeResult:
    """Write, fsync and remove a 4 KiB file; how long it took, or why it failed."""
    path = directory / PROBE_FILE
    started = time.perf_counter()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, b"\0" * PROBE_BYTES)
            os.fsync(fd)
        finally:
            os.close(fd)
        path.unlink()
    except OSError as err:
        return ProbeResult(ok=False, latency_ms=0.0, error=err.strerror or str(err))
    return ProbeResult(ok=True, latency_ms=(time.perf_counter() - started) * 1000)
