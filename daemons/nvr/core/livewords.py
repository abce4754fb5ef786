"""One word for a live path's state, the same in `nvrctl streams` and nvr-livestream's API.

An on-demand path (livestream.on_demand) pulls from the camera only while someone watches:
not available and nobody reading is its normal rest, "idle", not "down" (issue 24).
"""

from __future__ import annotations

LIVE = "live"
IDLE = "idle"
DOWN = "down"


def live_word(available: bool, readers: int, on_demand: bool) -> str:
    """Live / idle / down."""
    if available:
        return LIVE
    return IDLE if on_demand and readers == 0 else DOWN
