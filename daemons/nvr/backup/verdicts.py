"""What nvr-validator last said about each camera, as far as recording cares.

nvr-backup does not hammer a camera the validator found sending the wrong codec, and, when
`recording.record_when_invalid_picture` is false, does not record a black or frozen
picture. It reads the `validations` rows (written only by nvr-validator) and nothing else
of that daemon. A verdict older than three validation intervals is no verdict at all: the
validator may be down, and recording must not depend on it.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from nvr.core.recordings import EndReason

STREAM_CHECKS = ("stream",)
PICTURE_CHECKS = ("black", "frozen")
MAX_AGE_INTERVALS = 3


@dataclass(frozen=True)
class Verdict:
    """A reason to hold a camera, and whether a running recording should stop for it."""

    reason: EndReason
    detail: str
    stop_running: bool


def fetch_verdicts(
    conn: sqlite3.Connection, now_ms: int, interval_seconds: float, record_invalid_picture: bool
) -> dict[str, Verdict]:
    """Cameras to hold, keyed by camera id."""
    rows = conn.execute(
        "SELECT v.camera, v.check_name, v.reason FROM validations v"
        " JOIN (SELECT camera, max(checked_at_ms) AS t FROM validations GROUP BY camera) last"
        " ON v.camera = last.camera AND v.checked_at_ms = last.t"
        " WHERE v.status = 'fail' AND v.checked_at_ms >= ?",
        (now_ms - int(MAX_AGE_INTERVALS * interval_seconds * 1000),),
    ).fetchall()
    verdicts: dict[str, Verdict] = {}
    for camera, check, reason in rows:
        if check in STREAM_CHECKS:
            verdicts[camera] = Verdict(EndReason.INVALID_STREAM, reason, stop_running=False)
        elif check in PICTURE_CHECKS and not record_invalid_picture:
            verdicts.setdefault(camera, Verdict(EndReason.INVALID_PICTURE, reason, True))
    return verdicts
