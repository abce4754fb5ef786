"""Fixtures of the uplink tests: a state file, fake receivers, workers stopped at the end."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from nvr.core.state import StateStore
from nvr.uplink.delivery.worker import DestinationWorker
from nvrtest import closing_factory

from .receiver import Receiver


@pytest.fixture
def state_file(tmp_path: Path) -> Path:
    return tmp_path / "state.db"


@pytest.fixture
def store(state_file: Path) -> Iterator[StateStore]:
    with StateStore.open(state_file) as handle:
        yield handle


@pytest.fixture
def receivers() -> Iterator[Callable[..., Receiver]]:
    yield from closing_factory(Receiver)


@pytest.fixture
def run_worker() -> Iterator[Callable[[DestinationWorker], DestinationWorker]]:
    started: list[DestinationWorker] = []

    def start(worker: DestinationWorker) -> DestinationWorker:
        worker.start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop(15)
