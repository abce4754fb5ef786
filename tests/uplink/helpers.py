"""Shared pieces of the uplink tests: a state file with reports, workers, configs."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from nvr.core.redact import Secret
from nvr.core.state import StateStore
from nvr.core.tables.outbox import append
from nvr.uplink.delivery.adapters import HeadOfficeAdapter, HseAdapter
from nvr.uplink.delivery.transport import TlsSettings, Transport
from nvr.uplink.delivery.worker import DestinationWorker, RetryPolicy
from nvrtest import NvrDaemon, query_state

SITE = "test-01"
SECRET = "ho-site-secret-7f3a9c"
TOKEN = "hse-token-51b2d8e0"
FAST_RETRY = RetryPolicy(initial=0.05, maximum=0.3, circuit_failures=5, circuit_open_seconds=0.5)


def enqueue(
    store: StateStore, count: int, kind: str = "event", **body: Any
) -> list[dict[str, Any]]:
    """Append `count` reports in one transaction; return their envelopes."""
    with store.write() as conn:
        return [append(conn, SITE, kind, {"n": i, **body}) for i in range(count)]


def head_office_worker(
    state_file: Path, url: str, batch: int = 50, ca_file: Path | None = None
) -> DestinationWorker:
    adapter = HeadOfficeAdapter(url, SITE, Secret(SECRET), batch)
    transport = Transport(5.0, TlsSettings(True, ca_file))
    return DestinationWorker(adapter, transport, state_file, FAST_RETRY)


def hse_worker(state_file: Path, url: str) -> DestinationWorker:
    adapter = HseAdapter(url, SITE, Secret(TOKEN))
    return DestinationWorker(adapter, Transport(5.0, TlsSettings()), state_file, FAST_RETRY)


query = query_state  # [] before a daemon has created the file or its schema


def uplink_config(
    state_dir: Path, ho_url: str | None, hse_url: str | None, **uplink: Any
) -> dict[str, Any]:
    """A config dict for a real nvr-uplink / nvr-report process, secrets in files."""
    (state_dir / "ho.key").write_text(SECRET + "\n")
    (state_dir / "hse.token").write_text(TOKEN + "\n")
    section: dict[str, Any] = {
        "retry_initial_seconds": 0.05,
        "retry_max_seconds": 0.3,
        "circuit_open_seconds": 1.0,
        **uplink,
    }
    if ho_url:
        section["head_office"] = {"url": ho_url, "secret_file": str(state_dir / "ho.key")}
    if hse_url:
        section["hse_api"] = {"url": hse_url, "token_file": str(state_dir / "hse.token")}
    return {
        "site": {"id": SITE, "name": "Test site"},
        "storage": {
            "recordings_dir": str(state_dir / "recordings"),
            "state_file": str(state_dir / "state.db"),
        },
        "cameras": [
            {"id": "cam01", "name": "Gate", "url": "rtsp://admin:s3cr3t-pw@127.0.0.1:8554/cam01"},
            {"id": "cam02", "name": "Yard", "url": "rtsp://admin:s3cr3t-pw@127.0.0.1:8554/cam02"},
        ],
        "uplink": section,
        "report": {"event_coalesce_seconds": 2},
    }


def checked_daemons(
    secrets: Sequence[str], *, no_traceback: bool = False
) -> Iterator[list[NvrDaemon]]:
    """For a fixture: the daemons a test starts; at the end killed, their logs checked.

    No log may hold one of `secrets` (nor, with `no_traceback`, a traceback).
    """
    started: list[NvrDaemon] = []
    yield started
    for proc in started:
        if proc.alive:
            proc.kill()
    for proc in started:
        text = proc.log()
        assert not [s for s in secrets if s in text], f"a credential reached {proc.logs[-1]}"
        if no_traceback:
            assert "Traceback" not in text, text
