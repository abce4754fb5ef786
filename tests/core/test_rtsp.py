"""The RTSP probe against a real mediamtx: what a technician reads for each failure."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from nvr.core.redact import SecretUrl
from nvr.core.rtsp import ProbeResult, probe
from nvr_camsim import CameraSimulator
from nvr_camsim.faults import Fault
from nvr_camsim.mediamtx import free_port


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CameraSimulator]:
    run_dir: Path = tmp_path_factory.mktemp("camsim")
    with CameraSimulator(
        run_dir, 2, width=320, height=240, bitrate=300_000, faults={"cam02": Fault.WRONG_PASSWORD}
    ) as simulator:
        yield simulator


def test_probe_ok(sim: CameraSimulator) -> None:
    assert probe(SecretUrl(sim.camera_url("cam01"))).result is ProbeResult.OK


def test_probe_wrong_password_is_auth_failed(sim: CameraSimulator) -> None:
    answer = probe(SecretUrl(sim.camera_url("cam02")))
    assert answer.result is ProbeResult.AUTH_FAILED
    assert sim.password("cam02") not in answer.detail


def test_probe_path_without_stream_is_not_found(sim: CameraSimulator) -> None:
    # Behind a proxy (mediamtx), a camera whose source is gone answers 404.
    sim.set_fault("cam01", Fault.OFFLINE)
    try:
        assert probe(SecretUrl(sim.camera_url("cam01"))).result is ProbeResult.NOT_FOUND
    finally:
        sim.set_fault("cam01", None)


def test_probe_nothing_listening_is_offline() -> None:
    url = SecretUrl(f"rtsp://admin:pw@127.0.0.1:{free_port()}/cam01")
    assert probe(url, timeout=1).result is ProbeResult.OFFLINE
