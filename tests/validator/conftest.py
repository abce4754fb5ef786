"""Simulated cameras shared by the validator tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from nvr.camsim import CameraSimulator

WIDTH, HEIGHT, BITRATE = 640, 360, 800_000


@pytest.fixture(scope="module")
def simulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CameraSimulator]:
    """Four simulated cameras shared by a test module."""
    run_dir = tmp_path_factory.mktemp("camsim")
    with CameraSimulator(run_dir, 4, width=WIDTH, height=HEIGHT, bitrate=BITRATE) as sim:
        yield sim


@pytest.fixture
def sim(simulator: CameraSimulator) -> Iterator[CameraSimulator]:
    """The shared simulator, every fault cleared after the test."""
    yield simulator
    for camera in simulator.camera_ids:
        simulator.set_fault(camera, None)
