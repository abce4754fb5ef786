"""A camera that keeps dropping out: one warning event per burst, for the reports (issue 24).

A technician reading "cam04: 4 dropouts in 15 min" on the status page should also find it
at head office: each dropout alone is only a gap, so nvr-backup raises one event when a
camera's recordings broke off `DROPOUTS_TO_WARN` times within `WINDOW_MS`.
"""

from __future__ import annotations

from nvr.core.causes import is_dropout
from nvr.core.state import StateStore, now_ms
from nvr.core.tables.events import Severity, record_event
from nvr.core.tables.recordings import EndReason

DROPOUTS_EVENT_KIND = "camera_dropouts"
WINDOW_MS = 15 * 60_000
DROPOUTS_TO_WARN = 3
# A failed connection attempt is a run too, but it recorded nothing, so it cannot drop out
# (a camera that stays offline is the back-off's business, not a burst): only runs with an
# indexed segment that started within the run count (a retry right after a dropout must not
# take the dropped run's last segment for its own).


def note_dropout(store: StateStore, source: str, run_id: int, reason: EndReason) -> None:
    """After run `run_id` ended with `reason`: the event when this dropout completes a burst."""
    if not is_dropout(str(reason)):
        return
    conn = store.read()
    row = conn.execute("SELECT camera FROM recording_runs WHERE id = ?", (run_id,)).fetchone()
    if row is None:
        return
    camera = str(row[0])
    ended = conn.execute(
        "SELECT id, end_reason FROM recording_runs AS r WHERE camera = ? AND ended_at_ms >= ?"
        " AND EXISTS (SELECT 1 FROM segments AS s WHERE s.camera = r.camera"
        " AND s.start_ms >= r.started_at_ms AND s.start_ms < r.ended_at_ms)",
        (camera, now_ms() - WINDOW_MS),
    ).fetchall()
    dropped = {int(run) for run, end_reason in ended if end_reason and is_dropout(end_reason)}
    # Once per burst: when this run, one that recorded, is the dropout that reaches the count.
    if run_id not in dropped or len(dropped) != DROPOUTS_TO_WARN:
        return
    dropouts = len(dropped)
    minutes = WINDOW_MS // 60_000
    record_event(
        store,
        source=source,
        severity=Severity.WARNING,
        kind=DROPOUTS_EVENT_KIND,
        camera=camera,
        message=(
            f"camera={camera} dropped out {dropouts} times in {minutes} min (last: {reason}):"
            " check its power, cable and network"
        ),
        data={"dropouts": dropouts, "window_minutes": minutes, "last_reason": str(reason)},
    )
