"""One word for a live path's state, the same in `nvrctl streams` and nvr-livestream's API.

An on-demand path (livestream.on_demand) pulls from the camera only while someone watches:
not available and nobody reading is its normal rest, "idle", not "down" (issue 24).
"""

from __future__ import annotations

LIVE = "live"
IDLE = "idle"
STARTING = "starting"  # on demand, someone asked, mediamtx is still pulling the camera
DOWN = "down"


def live_word(available: bool, readers: int, on_demand: bool) -> str:
    """Live, idle (on demand, nobody watching), starting, or down."""
    if available:
        return LIVE
    if on_demand:
        return IDLE if readers == 0 else STARTING
    return DOWN
