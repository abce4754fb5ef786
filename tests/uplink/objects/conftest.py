"""Fixtures of the MinIO tests: a real MinIO server per test, daemons run for real."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from nvrtest import NvrDaemon
from nvrtest.minio_server import MinioServer
from uplink.helpers import checked_daemons


@pytest.fixture
def minio(tmp_path: Path) -> Iterator[MinioServer]:
    """A fresh MinIO server (its own data directory), stopped after the test."""
    with MinioServer(tmp_path / "minio") as server:
        yield server


@pytest.fixture
def processes(minio: MinioServer) -> Iterator[list[NvrDaemon]]:
    """Daemon processes of the test; at the end: killed, and no MinIO secret in their logs."""
    yield from checked_daemons((minio.secret_key,))
