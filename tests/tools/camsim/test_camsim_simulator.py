"""The simulated cameras as an NVR sees them: readable, each with its own password, faults."""

from __future__ import annotations

import os
import signal
import threading
from concurrent.futures import ThreadPoolExecutor
from time import monotonic

import numpy as np
import pytest

from nvr_camsim import CameraSimulator, Fault, clock_region

from .conftest import HEIGHT, WIDTH
from .media import grab_frames, outside, probe, sharpness

pytestmark = pytest.mark.timeout(60)

# Frames 0 and 50 are 2 s apart at 25 fps.
TWO_SECONDS = [0, 50]


@pytest.fixture(scope="module")
def normal_frames(simulator: CameraSimulator) -> list[np.ndarray]:
    """Two frames 2 s apart from a camera without a fault, as the reference."""
    return grab_frames(simulator.camera_url("cam04"), WIDTH, HEIGHT, TWO_SECONDS)


def test_every_camera_is_readable_with_its_url(sim: CameraSimulator) -> None:
    with ThreadPoolExecutor(len(sim.camera_ids)) as pool:
        probes = list(pool.map(probe, [sim.camera_url(c) for c in sim.camera_ids]))
    for camera, result in zip(sim.camera_ids, probes, strict=True):
        assert result.ok, f"{camera}: {result.error}"
        assert (result.codec, result.width, result.height) == ("h264", WIDTH, HEIGHT)
        assert result.fps == pytest.approx(25, abs=0.5)


def test_cameras_have_different_passwords(sim: CameraSimulator) -> None:
    passwords = {sim.password(c) for c in sim.camera_ids}
    assert len(passwords) == len(sim.camera_ids)
    url = sim.camera_url("cam02").replace(sim.password("cam02"), sim.password("cam01"))
    result = probe(url)
    assert not result.ok
    assert "401" in result.error


def test_wrong_password_fails_until_cleared(sim: CameraSimulator) -> None:
    url = sim.camera_url("cam01")
    sim.set_fault("cam01", Fault.WRONG_PASSWORD)
    assert sim.camera_url("cam01") == url, "the configured URL keeps the old password"
    result = probe(url)
    assert not result.ok
    assert "401 Unauthorized" in result.error

    sim.set_fault("cam01", None)
    assert probe(url).ok


def test_offline_camera_is_not_found_until_it_returns(sim: CameraSimulator) -> None:
    sim.set_fault("cam02", Fault.OFFLINE)
    assert sim.publisher_pid("cam02") is None
    result = probe(sim.camera_url("cam02"))
    assert not result.ok
    assert "404 Not Found" in result.error

    sim.set_fault("cam02", None)
    assert probe(sim.camera_url("cam02")).ok


def test_black_picture(sim: CameraSimulator, normal_frames: list[np.ndarray]) -> None:
    sim.set_fault("cam01", Fault.BLACK)
    frame = grab_frames(sim.camera_url("cam01"), WIDTH, HEIGHT, [0])[0]
    assert frame.mean() < 5, "black apart from the small OSD clock"
    assert frame[outside(clock_region(WIDTH, HEIGHT), frame)].max() < 20
    assert normal_frames[0].mean() > 60


def test_dark_picture_is_dim_but_not_black(
    sim: CameraSimulator, normal_frames: list[np.ndarray]
) -> None:
    sim.set_fault("cam01", Fault.DARK)
    frame = grab_frames(sim.camera_url("cam01"), WIDTH, HEIGHT, [0])[0]
    scene = frame[outside(clock_region(WIDTH, HEIGHT), frame)]
    assert 10 < scene.mean() < 40
    assert scene.mean() < normal_frames[0].mean() / 3


def test_blurred_picture(sim: CameraSimulator, normal_frames: list[np.ndarray]) -> None:
    sim.set_fault("cam03", Fault.BLURRED)
    frame = grab_frames(sim.camera_url("cam03"), WIDTH, HEIGHT, [0])[0]
    mask = outside(clock_region(WIDTH, HEIGHT), frame)
    normal = normal_frames[0]
    assert sharpness(frame, mask) < sharpness(normal, mask) / 20
    # The OSD clock stays sharp, so even the whole frame is clearly less sharp, not 20x.
    assert sharpness(frame) < sharpness(normal) / 2
    assert abs(frame.mean() - normal.mean()) < 15, "blurred, not darker or brighter"


def test_frozen_picture_changes_only_in_the_clock(
    sim: CameraSimulator, normal_frames: list[np.ndarray]
) -> None:
    sim.set_fault("cam03", Fault.FROZEN)
    first, later = grab_frames(sim.camera_url("cam03"), WIDTH, HEIGHT, TWO_SECONDS)
    region = clock_region(WIDTH, HEIGHT)
    mask = outside(region, first)
    diff = np.abs(first.astype(np.int16) - later.astype(np.int16))
    assert diff[mask].mean() < 0.5
    assert np.percentile(diff[mask], 99.9) < 12
    assert (diff[~mask] > 50).sum() > 20, "the burnt-in clock keeps running"

    normal_diff = np.abs(normal_frames[0].astype(np.int16) - normal_frames[1].astype(np.int16))
    assert normal_diff[mask].mean() > 3, "a working camera's scene moves"


def test_wrong_resolution(sim: CameraSimulator) -> None:
    sim.set_fault("cam04", Fault.WRONG_RESOLUTION)
    result = probe(sim.camera_url("cam04"))
    assert result.ok, result.error
    assert (result.width, result.height) == (1280, 720)

    sim.set_fault("cam04", None)
    result = probe(sim.camera_url("cam04"))
    assert (result.width, result.height) == (WIDTH, HEIGHT)


def test_switching_a_fault_touches_only_that_camera(sim: CameraSimulator) -> None:
    before = {c: sim.publisher_pid(c) for c in sim.camera_ids}
    sim.set_fault("cam02", Fault.BLACK)
    sim.set_fault("cam03", Fault.WRONG_PASSWORD)
    after = {c: sim.publisher_pid(c) for c in sim.camera_ids}

    assert after["cam02"] != before["cam02"], "a picture fault swaps the clip"
    assert after["cam03"] == before["cam03"], "a password change needs no restart"
    assert after["cam01"] == before["cam01"]
    assert after["cam04"] == before["cam04"]
    assert probe(sim.camera_url("cam01")).ok
    assert {c.id: c.fault for c in sim.cameras} == {
        "cam01": None,
        "cam02": Fault.BLACK,
        "cam03": Fault.WRONG_PASSWORD,
        "cam04": None,
    }


def test_a_killed_publisher_is_restarted(sim: CameraSimulator) -> None:
    old = sim.publisher_pid("cam04")
    assert old is not None
    os.kill(old, signal.SIGKILL)
    deadline = monotonic() + 15
    pause = threading.Event()
    while sim.publisher_pid("cam04") in (old, None) and monotonic() < deadline:
        pause.wait(0.1)
    assert sim.publisher_pid("cam04") not in (old, None)
    sim.wait_ready(15, ["cam04"])
    assert probe(sim.camera_url("cam04")).ok


def test_unknown_camera_is_refused(sim: CameraSimulator) -> None:
    with pytest.raises(Exception, match="unknown camera 'cam99'"):
        sim.set_fault("cam99", Fault.BLACK)
