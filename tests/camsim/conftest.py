"""Fixtures for the camera simulator tests: real ffmpeg and mediamtx, never skipped."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from nvr.camsim import CameraSimulator
from nvr.core.tools import require_tool

# Small pictures keep the suite quick on two cores; the resolution test uses 1080p.
WIDTH, HEIGHT = 640, 360
BITRATE = 800_000


@pytest.fixture(scope="session", autouse=True)
def tools() -> dict[str, str]:
    """Every tool the simulator needs; a missing one fails the tests with its one-liner."""
    return {name: require_tool(name) for name in ("ffmpeg", "ffprobe", "mediamtx")}


@pytest.fixture(scope="module")
def simulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CameraSimulator]:
    """Four cameras shared by a test module (starting them costs a second or two)."""
    run_dir: Path = tmp_path_factory.mktemp("camsim")
    with CameraSimulator(run_dir, 4, width=WIDTH, height=HEIGHT, bitrate=BITRATE) as sim:
        yield sim


@pytest.fixture
def sim(simulator: CameraSimulator) -> Iterator[CameraSimulator]:
    """The shared simulator, with every fault cleared after the test."""
    yield simulator
    for camera in simulator.camera_ids:
        simulator.set_fault(camera, None)
