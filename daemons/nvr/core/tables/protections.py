"""Protections: time ranges of a camera kept as evidence, never deleted by the janitor.

Written by `nvrctl protect` (through nvr-hddmon's helpers) and by `request_clip` commands
(nvr-uplink); read by the janitor inside its deletion transaction (docs/design/disk.md,
invariant 3). The INSERT lives here so that no daemon imports another one to protect a
range.
"""

from __future__ import annotations

import sqlite3

from nvr.core.state import now_ms


def insert_protection(
    conn: sqlite3.Connection, *, camera: str, from_ms: int, to_ms: int, reason: str
) -> tuple[int, int]:
    """Protect [from_ms, to_ms] of `camera` inside the caller's write transaction.

    Returns (protection id, created_at_ms). The caller checks the request first (a known
    camera, a non-empty range and reason): this only writes.
    """
    created = now_ms()
    cursor = conn.execute(
        "INSERT INTO protections (camera, from_ms, to_ms, reason, created_at_ms)"
        " VALUES (?, ?, ?, ?, ?)",
        (camera, from_ms, to_ms, reason, created),
    )
    return int(cursor.lastrowid or 0), created
