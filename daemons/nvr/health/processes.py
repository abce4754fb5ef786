"""CPU and memory of each daemon's process tree, for the HighCPU / HighMemory alert rules.

The pid comes from the daemon's heartbeat row (all daemons share one PID namespace, see
nvr.core.heartbeats.Heartbeat). A daemon's children count as its own: nvr-backup's ffmpeg
processes are most of the recording cost. The memory ceiling is the unit's `MemoryMax=`,
read from the process's cgroup when it runs under systemd (absent under supervisord).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import psutil

CGROUP_ROOT = Path("/sys/fs/cgroup")


@dataclass(frozen=True)
class ProcessUsage:
    """CPU seconds used so far and resident memory now, of a process and its children."""

    cpu_seconds: float
    memory_bytes: int
    memory_max_bytes: int | None


def _memory_max(pid: int) -> int | None:
    """The cgroup v2 `memory.max` of `pid`, None when unlimited or not readable."""
    try:
        lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
        # The unified hierarchy's line is "0::/system.slice/nvr-backup.service" (the only
        # line on Debian 12; a hybrid host lists the v1 controllers first).
        group = next(line[3:] for line in lines if line.startswith("0::"))
        value = (CGROUP_ROOT / group.lstrip("/") / "memory.max").read_text()
    except (OSError, StopIteration):
        return None
    value = value.strip()
    return int(value) if value.isdigit() else None


def process_usage(pid: int) -> ProcessUsage | None:
    """Usage of `pid` and its live children (reaped children's CPU included), None if gone."""
    try:
        root = psutil.Process(pid)
        tree = [root, *root.children(recursive=True)]
        times = root.cpu_times()
        cpu = times.children_user + times.children_system
        memory = 0
        for process in tree:
            with process.oneshot():
                used = process.cpu_times()
                cpu += used.user + used.system
                memory += process.memory_info().rss
    except psutil.Error:
        return None
    return ProcessUsage(cpu, memory, _memory_max(pid))
