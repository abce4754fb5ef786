"""Filesystem usage through psutil, as a small value the policy can reason about."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psutil


@dataclass(frozen=True)
class DiskUsage:
    """Usage of one filesystem in bytes; `free` is what an unprivileged writer may use."""

    total: int
    used: int
    free: int

    @property
    def usable(self) -> int:
        """Used plus free: the space ordinary files can occupy (root's reserve excluded)."""
        return self.used + self.free

    @property
    def percent(self) -> float:
        """Percent used, the way df and psutil count it (reserved blocks excluded)."""
        return 100.0 * self.used / self.usable if self.usable else 0.0

    def percent_after(self, more_bytes: int) -> float:
        """Percent used once `more_bytes` more are written (free space permitting)."""
        used = self.used + min(max(0, more_bytes), self.free)
        return 100.0 * used / self.usable if self.usable else 0.0

    def bytes_to_reach(self, percent: float) -> int:
        """Bytes to delete so that usage drops to `percent` (0 when already there)."""
        return max(0, self.used - int(self.usable * percent / 100.0))


UsageFn = Callable[[Path], DiskUsage]


def disk_usage(path: Path) -> DiskUsage:
    """Usage of the filesystem holding `path` (psutil.disk_usage)."""
    usage = psutil.disk_usage(str(path))
    return DiskUsage(total=usage.total, used=usage.used, free=usage.free)


def same_filesystem(first: Path, second: Path) -> bool:
    """True when both paths live on one filesystem (same st_dev)."""
    try:
        return first.stat().st_dev == second.stat().st_dev
    except OSError:
        return False


def format_bytes(count: float) -> str:
    """`1.2 TB`, `512.0 MB`: decimal units, as disk vendors and df -H print them."""
    value = float(count)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(value) < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} TB"
