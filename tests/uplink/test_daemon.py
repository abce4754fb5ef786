"""nvr-uplink run for real: READY, STATUS, SIGTERM, and kill -9 in the middle of batches."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from nvr.core.state import StateStore
from nvrtest import NotifySocket as Notify
from nvrtest import NvrDaemon, wait_until

from .helpers import SECRET, TOKEN, checked_daemons, enqueue, query, uplink_config
from .receiver import Receiver

pytestmark = pytest.mark.timeout(150)


@pytest.fixture
def processes() -> Iterator[list[NvrDaemon]]:
    yield from checked_daemons((SECRET, TOKEN))


def write_config(tmp_path: Path, ho: str | None, hse: str | None, **uplink: object) -> Path:
    path = tmp_path / "nvr.yaml"
    path.write_text(yaml.safe_dump(uplink_config(tmp_path, ho, hse, **uplink)))
    (tmp_path / "recordings").mkdir(exist_ok=True)
    return path


def test_uplink_process_ready_status_and_clean_stop(
    tmp_path: Path, receivers: Callable[..., Receiver], processes: list[NvrDaemon]
) -> None:
    head_office = receivers(secret=SECRET)
    hse = receivers("hse", token=TOKEN)
    config = write_config(tmp_path, head_office.url, hse.url)
    with StateStore.open(tmp_path / "state.db") as store:
        enqueue(store, 3)
    notify = Notify(tmp_path / "notify.sock")
    try:
        processes.append(NvrDaemon("nvr.uplink.main", config, notify.path))
        wait_until(lambda: any("READY=1" in m for m in notify.messages), 30, "READY=1")
        wait_until(lambda: head_office.count() == 3, 30, "the queued reports delivered")
        wait_until(
            lambda: notify.status("STATUS=head office ok (backlog 0); HSE ok (backlog 0)"),
            20,
            "both destinations ok in STATUS",
        )
        hse.down()
        with StateStore.open(tmp_path / "state.db") as store:
            enqueue(store, 2, kind="alarm", event="ppe_violation")
        wait_until(lambda: notify.status("HSE circuit open, retry in"), 30, "HSE circuit open")
        assert notify.status("(backlog 2)")
        assert processes[0].stop() == 0
        assert any("STOPPING=1" in m for m in notify.messages)
    finally:
        notify.close()


def test_kill_9_mid_batch_leaves_every_report_exactly_once_without_gaps(
    tmp_path: Path, receivers: Callable[..., Receiver], processes: list[NvrDaemon]
) -> None:
    total = 2_000
    head_office = receivers(secret=SECRET)
    head_office.faults.delay = 0.02  # slow enough that a kill lands mid-batch
    config = write_config(tmp_path, head_office.url, None, batch_max_reports=40)
    with StateStore.open(tmp_path / "state.db") as store:
        enqueue(store, total)
    rng = random.Random(7)
    kills = 0
    while kills < 8 and head_office.count() < total:
        proc = NvrDaemon("nvr.uplink.main", config)
        processes.append(proc)
        before = len(head_office.requests)
        wait_until(
            lambda before=before: len(head_office.requests) > before,  # type: ignore[misc]
            30,
            "the new process delivering",
        )
        time.sleep(rng.uniform(0.05, 0.4))
        proc.kill()
        kills += 1
    assert kills >= 3, "the backlog drained before enough kills landed"
    processes.append(NvrDaemon("nvr.uplink.main", config))
    wait_until(lambda: head_office.count() == total, 90, "every report after the kills")

    assert head_office.duplicates() > 0  # kills did land between a POST and its commit
    assert head_office.seqs() == list(range(1, total + 1))  # each once, no gap
    assert head_office.order == sorted(head_office.order)  # first arrivals in seq order
    assert head_office.problems == []
    wait_until(
        lambda: query(tmp_path / "state.db", "SELECT count(*) FROM outbox") == [(0,)],
        30,
        "delivered rows pruned",
    )
    assert processes[-1].stop() == 0
