"""Delivery to a real HTTP head office on loopback: order, signatures, retries, dead letters."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from nvr.core.state import StateStore
from nvr.uplink.delivery.worker import DestinationWorker
from nvrtest import wait_until
from uplink.helpers import SECRET, enqueue, head_office_worker, query
from uplink.receiver import Receiver

pytestmark = pytest.mark.timeout(90)
RunWorker = Callable[[DestinationWorker], DestinationWorker]


def test_reports_arrive_signed_in_order_exactly_once(
    store: StateStore, state_file: Path, receivers: Callable[..., Receiver], run_worker: RunWorker
) -> None:
    head_office = receivers(secret=SECRET)
    sent = enqueue(store, 120)
    run_worker(head_office_worker(state_file, head_office.url, batch=25))

    wait_until(lambda: head_office.count() == 120, 30, "120 reports at head office")
    assert head_office.problems == []  # every signature and envelope checked out
    assert head_office.order == list(range(1, 121))
    assert [head_office.reports[e["id"]]["body"] for e in sent] == [e["body"] for e in sent]
    # Behind by 120: batches, not 120 requests; every request carries an idempotency key.
    assert len(head_office.requests) <= 6
    assert all(r["key"] for r in head_office.requests)
    wait_until(
        lambda: query(state_file, "SELECT last_id FROM uplink_cursors") == [(120,)], 10, "cursor"
    )


def test_receiver_down_then_back_gets_everything_in_order(
    store: StateStore, state_file: Path, receivers: Callable[..., Receiver], run_worker: RunWorker
) -> None:
    head_office = receivers(secret=SECRET)
    head_office.faults.status = 503
    enqueue(store, 10)
    worker = run_worker(head_office_worker(state_file, head_office.url, batch=4))
    wait_until(lambda: worker.snapshot()["health"] == "circuit open", 30, "circuit open on 5xx")
    assert "HTTP 503" in worker.snapshot()["last_error"]

    head_office.faults.status = None
    head_office.down()  # now connections are refused
    enqueue(store, 10)
    wait_until(lambda: "cannot connect" in worker.snapshot()["last_error"], 30, "refused")
    head_office.start()
    enqueue(store, 10)

    wait_until(lambda: head_office.count() == 30, 30, "all 30 after the receiver came back")
    assert head_office.order == list(range(1, 31))
    assert head_office.problems == []
    wait_until(lambda: worker.snapshot()["health"] == "ok", 10, "health back to ok")


def test_wrong_secret_keeps_reports_queued_until_fixed_none_dead(
    store: StateStore, state_file: Path, receivers: Callable[..., Receiver], run_worker: RunWorker
) -> None:
    """A 401 (secret rotated at head office, clock skew) is nobody's report's fault."""
    head_office = receivers(secret="rotated-at-head-office")
    enqueue(store, 12)
    worker = run_worker(head_office_worker(state_file, head_office.url, batch=5))
    wait_until(lambda: "HTTP 401" in worker.snapshot()["last_error"], 30, "401 seen")
    assert "check the secret/token" in worker.snapshot()["last_error"]
    assert query(state_file, "SELECT count(*) FROM dead_letters") == [(0,)]
    head_office.secret = SECRET  # the technician fixes the secret
    wait_until(lambda: head_office.count() == 12, 60, "all 12 once the secret matches")
    assert head_office.order == list(range(1, 13))
    assert query(state_file, "SELECT count(*) FROM dead_letters") == [(0,)]


def test_refused_report_is_dead_lettered_and_the_rest_flows(
    store: StateStore, state_file: Path, receivers: Callable[..., Receiver], run_worker: RunWorker
) -> None:
    head_office = receivers(secret=SECRET)
    sent = enqueue(store, 20)
    bad = sent[6]
    head_office.faults.refuse_ids = {bad["id"]}
    run_worker(head_office_worker(state_file, head_office.url, batch=10))

    wait_until(lambda: head_office.count() == 19, 30, "the 19 good reports")
    assert head_office.order == [seq for seq in range(1, 21) if seq != bad["seq"]]
    dead = wait_until(
        lambda: query(state_file, "SELECT seq, report_id, error FROM dead_letters"), 10, "dead"
    )
    assert [(d[0], d[1]) for d in dead] == [(bad["seq"], bad["id"])]
    assert "HTTP 400" in dead[0][2]
    events = query(
        state_file, "SELECT severity, message FROM events WHERE kind = 'uplink_dead_letter'"
    )
    assert events == [("warning", events[0][1])]
    assert f"seq {bad['seq']}" in events[0][1]


def test_429_waits_for_retry_after(
    store: StateStore, state_file: Path, receivers: Callable[..., Receiver], run_worker: RunWorker
) -> None:
    head_office = receivers(secret=SECRET)
    head_office.faults.throttle_next = 1
    head_office.faults.retry_after = "2"
    enqueue(store, 5)
    worker = run_worker(head_office_worker(state_file, head_office.url))

    wait_until(lambda: head_office.throttled_at, 20, "a 429")
    wait_until(lambda: "retry after 2s" in worker.snapshot()["last_error"], 10, "429 noted")
    wait_until(lambda: head_office.count() == 5, 30, "delivery after Retry-After")
    # The next request came no sooner than the receiver asked (a lower bound holds on any box).
    throttled, retried = head_office.requests
    assert (throttled["status"], retried["status"]) == (429, 200)
    assert retried["at"] - throttled["at"] >= 1.9  # not before Retry-After: 2
    assert head_office.order == [1, 2, 3, 4, 5]
    assert worker.circuit.failures == 0  # a 429 is not a failure of the receiver
