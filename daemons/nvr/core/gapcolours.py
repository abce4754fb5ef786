"""What timelines are drawn with (nvr-health's status page, the playback page).

One bar type and one table of gap colours so both pages draw a gap alike; names match
nvr.core.tables.recordings.EndReason.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Bar:
    """One stretch of a timeline, in percent of its width."""

    left: float
    width: float
    colour: str
    title: str


RECORDED_COLOUR = "#5cb85c"
PROTECTED_COLOUR = "#f1c40f"
# Anything not listed is grey.
GAP_COLOURS = {
    "camera offline": "#d9534f",
    "auth failed": "#8e44ad",
    "stream not found": "#8e44ad",
    "stalled": "#e67e22",
    "disk not mounted": "#2c3e50",
    "disk read-only": "#2c3e50",
    "disk full": "#2c3e50",
    "recordings directory missing": "#2c3e50",
    "recordings directory not writable": "#2c3e50",
    "ffmpeg error": "#e67e22",
    "nvr-backup stopped unexpectedly": "#c0392b",
    "power loss (unclean shutdown)": "#c0392b",
    "segment in progress": "#bdc3c7",
    "not recording": "#7f8c8d",
}
OTHER_GAP_COLOUR = "#95a5a6"
