"""Fixtures of the nvr-headoffice tests: a receiver process, stopped (and checked) at the end."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from .helpers import OTHER_SECRET, SECRET, HeadOffice, write_sites


@pytest.fixture
def start_headoffice(tmp_path: Path) -> Iterator[Callable[..., HeadOffice]]:
    """Start receivers; at the end each must stop cleanly and its log hold no secret."""
    started: list[HeadOffice] = []

    def start(sites: Path | None = None, database: Path | None = None) -> HeadOffice:
        receiver = HeadOffice(tmp_path, sites or write_sites(tmp_path), database)
        started.append(receiver)
        return receiver

    yield start
    for receiver in started:
        if receiver.proc is not None:
            assert receiver.stop() == 0, receiver.log()
        text = receiver.log()
        assert SECRET not in text and OTHER_SECRET not in text, "a secret reached the log"
        assert "Traceback" not in text, text


@pytest.fixture
def headoffice(start_headoffice: Callable[..., HeadOffice]) -> HeadOffice:
    return start_headoffice()
