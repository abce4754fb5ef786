"""Fixtures of the MQTT and command tests: a real mosquitto, the centre's client, processes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from nvrtest import NvrDaemon, closing_factory
from nvrtest.mqtt_broker import MosquittoBroker
from uplink.helpers import checked_daemons
from uplink.receiver import Receiver

from .centre import BROKER_USERS, CENTRE_PASSWORD, MQTT_PASSWORD, SECRET, Centre

# Never in a log, whatever happens in the test.
SECRETS = (SECRET, MQTT_PASSWORD, CENTRE_PASSWORD)


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[MosquittoBroker]:
    """A mosquitto that wants a user name and password, stopped after the test."""
    with MosquittoBroker(tmp_path / "mqtt", users=BROKER_USERS) as server:
        yield server


@pytest.fixture
def centres(broker: MosquittoBroker) -> Iterator[Callable[[], Centre]]:
    """Connect centre clients; disconnected at the end."""
    yield from closing_factory(lambda: Centre(broker))


@pytest.fixture
def processes() -> Iterator[list[NvrDaemon]]:
    """Box processes started by a test; killed at the end, their logs checked for secrets."""
    yield from checked_daemons(SECRETS, no_traceback=True)


@pytest.fixture
def head_office() -> Iterator[Receiver]:
    """The fake head office (checks the HMAC of every report)."""
    receiver = Receiver(secret=SECRET)
    yield receiver
    receiver.close()
