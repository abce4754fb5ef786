"""The HSE adapter, the outbox bound, TLS with a private CA, and `nvrctl outbox`."""

from __future__ import annotations

import argparse
import json
import ssl
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from nvr.cli import outbox_cmd
from nvr.core.state import StateStore
from nvr.uplink.delivery.pending import enforce_bound
from nvr.uplink.delivery.worker import DestinationWorker
from nvrtest import wait_until
from uplink.helpers import (
    SECRET,
    SITE,
    TOKEN,
    enqueue,
    head_office_worker,
    hse_worker,
    uplink_config,
)
from uplink.receiver import Receiver

pytestmark = pytest.mark.timeout(90)
RunWorker = Callable[[DestinationWorker], DestinationWorker]


def status_body(recording: str) -> dict[str, object]:
    return {
        "cameras": [
            {"id": "cam01", "name": "Gate", "recording": {"state": recording}},
            {"id": "cam02", "name": "Yard", "recording": {"state": "waiting"}},
        ]
    }


def test_hse_gets_heartbeat_video_sources_and_alarms_in_its_vocabulary(
    store: StateStore, state_file: Path, receivers: Callable[..., Receiver], run_worker: RunWorker
) -> None:
    hse = receivers("hse", token=TOKEN)
    with store.write():
        pass
    enqueue(store, 1, kind="status", **status_body("waiting"))
    alarm = enqueue(
        store,
        1,
        kind="alarm",
        event="ppe_violation",
        camera="cam01",
        camera_name="Gate",
        last_at="2026-11-21T08:00:00.000Z",
        data={"minio_image_path": "alarm-images/x.jpg"},
    )[0]
    enqueue(store, 3, kind="event", event="camera_recovered")  # not the HSE platform's business
    newest = enqueue(store, 1, kind="status", **status_body("recording"))[0]
    run_worker(hse_worker(state_file, hse.url))

    wait_until(lambda: hse.hse["video-sources"], 30, "video sources at HSE")
    assert hse.problems == []  # bearer token and fields checked by the receiver
    assert [a["alarm_type"] for a in hse.hse["alarms"]] == ["ppe_violation"]
    got = hse.hse["alarms"][0]
    assert (got["camera_name"], got["alarm_time"], got["minio_image_path"], got["_key"]) == (
        "Gate",
        "2026-11-21T08:00:00.000Z",
        "alarm-images/x.jpg",
        alarm["id"],
    )
    # Only the newest status becomes a heartbeat: an old one says nothing new.
    assert hse.hse["heartbeat"] == [
        {
            "box_id": SITE,
            "online": True,
            "last_seen": newest["created_at"],
            "_key": f"{newest['id']}/heartbeat",
        }
    ]
    sources = hse.hse["video-sources"][0]["video_sources"]
    assert [(s["source_id"], s["status"]) for s in sources] == [
        ("cam01", "online"),
        ("cam02", "offline"),
    ]


def test_overflow_drops_status_before_events_keeps_summaries_and_announces_the_gap(
    store: StateStore, state_file: Path, receivers: Callable[..., Receiver], run_worker: RunWorker
) -> None:
    enqueue(store, 60, kind="status")
    enqueue(store, 30, kind="event")
    enqueue(store, 10, kind="alarm")
    enqueue(store, 5, kind="daily_summary")
    overflow = enforce_bound(store, SITE, max_rows=50, max_bytes=1 << 30)
    assert overflow is not None
    assert overflow.by_kind == {"status": 60}  # the least important only, as far as needed
    # 46 rows now (45 kept + the announcement); a tighter bound reaches the events.
    second = enforce_bound(store, SITE, max_rows=20, max_bytes=1 << 30)
    assert second is not None and second.by_kind == {"event": 28}

    head_office = receivers(secret=SECRET)
    run_worker(head_office_worker(state_file, head_office.url))
    wait_until(lambda: head_office.count() == 19, 30, "what is left, plus the announcements")
    kinds = [e["kind"] for e in sorted(head_office.reports.values(), key=lambda e: e["seq"])]
    assert kinds.count("daily_summary") == 5  # never dropped
    assert kinds.count("event") == 2 and kinds.count("alarm") == 12  # 10 + 2 announcements
    # The receiver's seq check: received plus announced drops cover 1..last with no hole.
    announced: set[int] = set()
    for envelope in head_office.reports.values():
        for first, last in envelope["body"].get("dropped_seqs", []):
            announced.update(range(first, last + 1))
    received = set(head_office.seqs())
    assert not received & announced
    assert received | announced == set(range(1, max(received) + 1))


def make_ca_and_server_cert(directory: Path) -> tuple[Path, Path, Path]:
    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=directory)

    run(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=Test CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
    )
    run(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
    )
    (directory / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1\n")
    run(
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
        "-out",
        "server.pem",
    )
    return directory / "ca.pem", directory / "server.pem", directory / "server.key"


def test_tls_with_private_ca_delivers_and_unknown_ca_fails_in_one_clear_line(
    tmp_path: Path,
    store: StateStore,
    state_file: Path,
    receivers: Callable[..., Receiver],
    run_worker: RunWorker,
) -> None:
    ca, cert, key = make_ca_and_server_cert(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    head_office = receivers(secret=SECRET, tls=context)
    enqueue(store, 3)

    untrusting = run_worker(head_office_worker(state_file, head_office.url))
    error = wait_until(lambda: untrusting.snapshot()["last_error"], 30, "a TLS failure")
    assert error.startswith("TLS certificate verification failed")
    assert "set ca_file to the private CA" in error and "\n" not in error
    untrusting.stop(15)
    assert head_office.count() == 0

    run_worker(head_office_worker(state_file, head_office.url, ca_file=ca))
    wait_until(lambda: head_office.count() == 3, 30, "delivery with the private CA")


def test_nvrctl_outbox_shows_backlog_oldest_and_dead_letters(
    tmp_path: Path,
    store: StateStore,
    state_file: Path,
    receivers: Callable[..., Receiver],
    run_worker: RunWorker,
    capsys: pytest.CaptureFixture[str],
) -> None:
    head_office = receivers(secret=SECRET)
    sent = enqueue(store, 4)
    head_office.faults.refuse_ids = {sent[0]["id"]}
    worker = run_worker(head_office_worker(state_file, head_office.url, batch=1))
    wait_until(lambda: head_office.count() == 3, 30, "three delivered, one refused")
    worker.stop(15)
    enqueue(store, 2)
    config = tmp_path / "nvr.yaml"
    data = uplink_config(tmp_path, head_office.url, "http://127.0.0.1:9/api")
    config.write_text(yaml.safe_dump(data))

    parser = argparse.ArgumentParser()
    outbox_cmd.add_parser(parser.add_subparsers())
    args = parser.parse_args(["outbox", "--config", str(config)])
    assert args.func(args) == 0
    text = capsys.readouterr().out
    assert "head office: backlog 2, oldest " in text and "1 dead letters" in text
    assert "HSE: backlog 6" in text
    assert f"dead: head office seq {sent[0]['seq']} event" in text and "HTTP 400" in text

    args = parser.parse_args(["outbox", "--config", str(config), "--json"])
    assert args.func(args) == 0
    data = json.loads(capsys.readouterr().out)
    assert [d["pending"] for d in data["destinations"]] == [2, 6]
