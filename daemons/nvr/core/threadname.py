"""A thread's name as the kernel shows it (`top -H`, `ps -L`, /proc/<pid>/task/<tid>/comm).

Python 3.11 keeps `threading.Thread.name` to itself, so every thread of a daemon shows the
process name and the CPU of nvr-backup's threads (hashing, syncing, reading ffmpeg's
progress) cannot be told apart from outside; tests/bench/bench_backup.py splits the
daemon's CPU by these names.
"""

from __future__ import annotations

import ctypes
import threading

_PR_SET_NAME = 15
# The kernel keeps 16 bytes, the terminating NUL included.
MAX_NAME_BYTES = 15
_libc = ctypes.CDLL(None, use_errno=True)


def name_os_thread() -> None:
    """Give the calling thread its Python name (cut to 15 bytes) in the kernel."""
    name = threading.current_thread().name.encode("ascii", "replace")[:MAX_NAME_BYTES]
    _libc.prctl(_PR_SET_NAME, ctypes.c_char_p(name), 0, 0, 0)
