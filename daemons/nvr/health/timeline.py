"""The status page's recording timeline: zoomable, gaps visible at every zoom, dropouts counted.

Issue 24: 15 minutes of recording were a one-pixel sliver of 24 h and dropouts lived only in
tooltips. Three zooms (24 h, 1 h, 15 min, `?zoom=`), every gap at least MIN_GAP_PERCENT
wide, gaps coloured by the few causes of nvr.core.causes (the precise reason in the
tooltip), and a count of the dropouts in the window per camera.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from nvr.core.causes import BOX, CAMERA, IN_PROGRESS, PAUSED, cause_of, is_dropout
from nvr.core.gapcolours import Bar
from nvr.core.tables.recordings import coverage
from nvr.core.timeutil import format_local

ZOOMS = {"24h": 24 * 3_600_000, "1h": 3_600_000, "15m": 15 * 60_000}
ZOOM_LABELS = {"24h": "24 h", "1h": "1 h", "15m": "15 min"}
DEFAULT_ZOOM = "24h"
# A 10 s dropout is 0.01 % of 24 h: drawn this wide (~3 px on a 300 px bar) so it shows.
MIN_GAP_PERCENT = 1.0
RECORDED_COLOUR = "#4caf50"
# Four colours a person tells apart (also in grey scale): red, dark blue, grey, light grey.
CAUSE_COLOURS = {
    CAMERA: "#d32f2f",
    BOX: "#1a237e",
    PAUSED: "#8d8d8d",
    IN_PROGRESS: "#d0d0d0",
}


@dataclass(frozen=True)
class Timeline:
    """A camera's bars over the zoom's window and its dropouts in that window."""

    bars: list[Bar]
    dropouts: int


def zoom_of(text: str | None) -> str:
    """The zoom asked for, else the default (anything unknown is ignored, not an error)."""
    return text if text in ZOOMS else DEFAULT_ZOOM


def timeline(conn: sqlite3.Connection, camera: str, now_ms: int, zoom: str) -> Timeline:
    """The window of `zoom` ending now: recorded green, each gap coloured by its cause."""
    span = ZOOMS[zoom]
    start = now_ms - span
    result = coverage(conn, camera, start, now_ms)
    bars = [Bar(0.0, 100.0, RECORDED_COLOUR, "recorded")]
    for gap in result.gaps:
        left = 100 * (gap.start_ms - start) / span
        width = max(MIN_GAP_PERCENT, 100 * (gap.end_ms - gap.start_ms) / span)
        bars.append(
            Bar(
                left=min(left, 100 - width),
                width=width,
                colour=CAUSE_COLOURS[cause_of(gap.reason)],
                title=(
                    f"{format_local(gap.start_ms)} - {format_local(gap.end_ms)}:"
                    f" {gap.reason} ({cause_of(gap.reason)})"
                ),
            )
        )
    return Timeline(bars, sum(1 for gap in result.gaps if is_dropout(gap.reason)))
