"""Fixtures for the camera simulator tests: real ffmpeg and mediamtx, never skipped."""

from __future__ import annotations

import pytest

from nvr.core.tools import require_tool
from nvrtest import SIM_BITRATE as BITRATE
from nvrtest import SIM_HEIGHT as HEIGHT
from nvrtest import SIM_WIDTH as WIDTH

__all__ = ["BITRATE", "HEIGHT", "WIDTH"]


@pytest.fixture(scope="session", autouse=True)
def tools() -> dict[str, str]:
    """Every tool the simulator needs; a missing one fails the tests with its one-liner."""
    return {name: require_tool(name) for name in ("ffmpeg", "ffprobe", "mediamtx")}
