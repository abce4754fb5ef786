"""nvr-backup run for real: a child process recording simulated cameras from mediamtx."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from nvr_camsim import CameraSimulator

from .harness import Backup


@pytest.fixture
def backup_factory(tmp_path: Path, sim: CameraSimulator) -> Iterator[Callable[..., Backup]]:
    """Make Backup harnesses; at the end stop them and check no password was logged."""
    made: list[Backup] = []

    def make(cameras: list[str], **recording: Any) -> Backup:
        harness = Backup(tmp_path / f"b{len(made)}", sim, cameras, **recording)
        made.append(harness)
        return harness

    yield make
    for harness in made:
        if harness.proc is not None:
            harness.kill()
        text = harness.log()
        for camera in sim.camera_ids:
            assert sim.password(camera) not in text, "a camera password reached the log"
