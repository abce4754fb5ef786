"""Fixtures for nvr-livestream: simulated cameras, viewer accounts, the harness."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from nvr.camsim import CameraSimulator
from nvr.core.passwords import hash_password

from .harness import ALICE, ALICE_PW, BOB, BOB_PW, Livestream

WIDTH, HEIGHT, BITRATE = 320, 180, 300_000


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CameraSimulator]:
    """Three simulated cameras shared by a test module."""
    run_dir = tmp_path_factory.mktemp("camsim")
    with CameraSimulator(run_dir, 3, width=WIDTH, height=HEIGHT, bitrate=BITRATE) as simulator:
        yield simulator


@pytest.fixture(scope="session")
def viewers() -> list[dict[str, Any]]:
    """alice may watch every camera, bob only cam02."""
    return [
        {"user": ALICE, "password_hash": hash_password(ALICE_PW), "cameras": "all"},
        {"user": BOB, "password_hash": hash_password(BOB_PW), "cameras": ["cam02"]},
    ]


@pytest.fixture
def livestream(
    tmp_path: Path, sim: CameraSimulator, viewers: list[dict[str, Any]]
) -> Iterator[Callable[..., Livestream]]:
    """Make a started Livestream; at the end stop it and check no password was logged."""
    made: list[Livestream] = []

    def make(
        cameras: list[str],
        disabled: tuple[str, ...] = (),
        media_tls: bool = False,
        camera_keys: dict[str, dict[str, Any]] | None = None,
    ) -> Livestream:
        harness = Livestream(tmp_path / f"ls{len(made)}", sim, viewers, media_tls)
        harness.camera_keys = camera_keys or {}
        made.append(harness)
        harness.write_config(cameras, disabled)
        harness.start()
        return harness

    yield make
    for harness in made:
        harness.close()
        text = harness.log()
        for camera in sim.camera_ids:
            assert sim.password(camera) not in text, "a camera password reached our log"
        for secret in (ALICE_PW, BOB_PW):
            assert secret not in text, "a viewer password reached our log"
