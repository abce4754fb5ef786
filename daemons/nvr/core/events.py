"""Events: things a person should hear about (camera offline, disk full, daemon restart).

Any daemon may append; nvr-report turns them into event reports and nvr-health shows them.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from enum import StrEnum
from typing import Any

from nvr.core.state import StateStore, now_ms

log = logging.getLogger(__name__)


class Severity(StrEnum):
    """How urgent an event is."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


_LOG_LEVEL = {
    Severity.INFO: logging.INFO,
    Severity.WARNING: logging.WARNING,
    Severity.CRITICAL: logging.ERROR,
}


def record_event(
    store: StateStore,
    *,
    source: str,
    severity: Severity,
    kind: str,
    message: str,
    camera: str | None = None,
    data: dict[str, Any] | None = None,
) -> int:
    """Append an event, log it once, and return its id."""
    # The event and camera become journal fields (NVR_EVENT, NVR_CAMERA): nvr.core.logfields.
    log.log(
        _LOG_LEVEL[severity], "event %s: %s", kind, message, extra={"event": kind, "camera": camera}
    )
    with store.write() as conn:
        return insert_event(conn, source, severity, kind, message, camera=camera, data=data)


def insert_event(
    conn: sqlite3.Connection,
    source: str,
    severity: Severity,
    kind: str,
    message: str,
    *,
    camera: str | None = None,
    data: dict[str, Any] | None = None,
) -> int:
    """Append an event inside the caller's write transaction (not logged); return its id.

    For an event that must commit with another change or not at all.
    """
    cursor = conn.execute(
        "INSERT INTO events (created_at_ms, source, severity, kind, camera, message,"
        " data_json) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (now_ms(), source, str(severity), kind, camera, message, json.dumps(data or {})),
    )
    return int(cursor.lastrowid or 0)
