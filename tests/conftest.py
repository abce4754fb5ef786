"""Fixtures shared by every test: config files and the real tools the suite relies on.

A missing tool fails the run at collection: a test suite that quietly skips the parts it
cannot run would report green on a box that cannot record.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from nvr.core.errors import MissingToolError
from nvr.core.tools import require_tool
from nvr_camsim import CameraSimulator
from nvrtest import SIM_BITRATE, SIM_HEIGHT, SIM_WIDTH, NotifySocket, base_config
from nvrtest.postgres import PostgresServer, postgres_bindir

REQUIRED_TOOLS = ("ffmpeg", "ffprobe", "mediamtx", "minio", "mosquitto", "supervisord")


def pytest_sessionstart(session: pytest.Session) -> None:
    missing = []
    for tool in REQUIRED_TOOLS:
        try:
            require_tool(tool)
        except MissingToolError as err:
            missing.append(str(err))
    try:
        postgres_bindir()
    except MissingToolError as err:
        missing.append(str(err))
    if missing:
        raise pytest.UsageError(
            "required tools missing (run `make test`, which installs them): " + "; ".join(missing)
        )


@pytest.fixture
def notify(tmp_path: Path) -> Iterator[NotifySocket]:
    """A systemd notify socket for the daemons a test starts, closed after the test."""
    sock = NotifySocket(tmp_path / "notify.sock")
    yield sock
    sock.close()


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[..., Path]:
    """Write a config file: `write_config(cameras=[...])` or `write_config(raw="yaml text")`."""

    def write(raw: str | None = None, name: str = "nvr.yaml", **overrides: Any) -> Path:
        path = tmp_path / name
        text = raw if raw is not None else yaml.safe_dump(base_config(tmp_path, **overrides))
        path.write_text(text)
        return path

    return write


@pytest.fixture(scope="module")
def simulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CameraSimulator]:
    """Four simulated cameras shared by a test module (starting them costs a second or two)."""
    run_dir = tmp_path_factory.mktemp("camsim")
    with CameraSimulator(
        run_dir, 4, width=SIM_WIDTH, height=SIM_HEIGHT, bitrate=SIM_BITRATE
    ) as sim:
        yield sim


@pytest.fixture
def sim(simulator: CameraSimulator) -> Iterator[CameraSimulator]:
    """The shared simulator, with every fault cleared after the test."""
    yield simulator
    for camera in simulator.camera_ids:
        simulator.set_fault(camera, None)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One real PostgreSQL server for the whole run (initdb costs a second or two)."""
    server = PostgresServer()
    server.start()
    yield server
    server.remove()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    """A fresh, empty database on that server, for one test."""
    return postgres_server.create_database()


@pytest.fixture
def nvrctl() -> list[str]:
    """argv prefix that runs nvrctl from this checkout."""
    exe = shutil.which("nvrctl", path=str(Path(sys.executable).parent))
    return [exe] if exe else [sys.executable, "-m", "nvr.cli.main"]
