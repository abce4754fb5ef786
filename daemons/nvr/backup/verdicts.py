"""The one verdict of nvr-validator that recording follows: the operator's picture policy.

Recording comes first. nvr-validator's verdicts inform people; they never stop recording,
with one exception the operator asks for explicitly: with
`recording.record_when_invalid_picture: false`, a camera whose picture the validator found
black or covered is paused until a later check passes. Every other verdict (unreachable,
wrong codec, stream not readable, frozen, blurred) may be the box's own trouble or a
harmless setting and is only reported (docs/design/validation.md, invariant 6).

nvr-backup reads the `validations` rows (written only by nvr-validator) and nothing else
of that daemon. A verdict older than three validation intervals is no verdict at all: the
validator may be down, and recording must not depend on it.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from nvr.core.tables.recordings import EndReason

# Picture checks decided on decoded frames: a camera cannot look black or covered because
# the box was busy or the camera refused a session (those end the check before them).
PAUSE_CHECKS = ("black", "covered")
MAX_AGE_INTERVALS = 3


@dataclass(frozen=True)
class Verdict:
    """A reason to pause a camera, with the validator's words for it."""

    reason: EndReason
    detail: str


def fetch_verdicts(
    conn: sqlite3.Connection, now_ms: int, interval_seconds: float, record_invalid_picture: bool
) -> dict[str, Verdict]:
    """Cameras to pause, keyed by camera id (none unless the operator set the policy)."""
    if record_invalid_picture:
        return {}
    placeholders = ",".join("?" * len(PAUSE_CHECKS))
    rows = conn.execute(
        "SELECT v.camera, v.reason FROM validations v"
        " JOIN (SELECT camera, max(checked_at_ms) AS t FROM validations GROUP BY camera) last"
        " ON v.camera = last.camera AND v.checked_at_ms = last.t"
        f" WHERE v.status = 'fail' AND v.check_name IN ({placeholders})"
        " AND v.checked_at_ms >= ? ORDER BY v.id",
        (*PAUSE_CHECKS, now_ms - int(MAX_AGE_INTERVALS * interval_seconds * 1000)),
    ).fetchall()
    return {camera: Verdict(EndReason.PICTURE_POLICY, reason) for camera, reason in rows}
