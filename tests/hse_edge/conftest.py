"""Fixtures of the edge-side HSE tests: mosquitto, MinIO, fake head office and HSE API."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from commands.centre import BROKER_USERS, CENTRE_PASSWORD, MQTT_PASSWORD, SECRET
from minio_server import MinioServer
from mqtt_broker import MosquittoBroker
from uplink.helpers import Process
from uplink.receiver import Receiver

from .edge import EDGE_SECRET, HSE_TOKEN

# Never in a log, whatever happens in the test.
SECRETS = (SECRET, MQTT_PASSWORD, CENTRE_PASSWORD, HSE_TOKEN, EDGE_SECRET)


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[MosquittoBroker]:
    with MosquittoBroker(tmp_path / "mqtt", users=BROKER_USERS) as server:
        yield server


@pytest.fixture
def minio(tmp_path: Path) -> Iterator[MinioServer]:
    with MinioServer(tmp_path / "minio") as server:
        yield server


@pytest.fixture
def head_office() -> Iterator[Receiver]:
    receiver = Receiver(secret=SECRET)
    yield receiver
    receiver.close()


@pytest.fixture
def hse() -> Iterator[Receiver]:
    """The fake HSE API (checks the bearer token)."""
    receiver = Receiver("hse", token=HSE_TOKEN)
    yield receiver
    receiver.close()


@pytest.fixture
def processes(request: pytest.FixtureRequest) -> Iterator[list[Process]]:
    """Box processes started by a test; killed at the end, their logs checked for secrets."""
    started: list[Process] = []
    yield started
    for proc in started:
        if proc.proc.poll() is None:
            proc.kill()
    secrets = list(SECRETS)
    if "minio" in request.fixturenames:
        secrets.append(request.getfixturevalue("minio").secret_key)
    for proc in started:
        text = proc.text()
        for secret in secrets:
            assert secret not in text, f"a credential reached the log {proc.log.name}"
        assert "Traceback" not in text, text
