"""Commands over MQTT with real nvr-uplink and nvr-report processes and a fake head office.

Refused commands: each answered `rejected` with a reason, reported to head office, never
run. get_status end to end. The same id twice runs once; a forged command cannot take a
genuine command's id.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from nvr.core.state import StateStore, now_ms
from nvrtest import NvrDaemon, wait_until
from nvrtest.mqtt_broker import MosquittoBroker
from uplink.helpers import query
from uplink.receiver import Receiver

from .centre import MAX_CLIP_S, SITE, Centre, box_config, iso

pytestmark = pytest.mark.timeout(120)


def command_reports(head_office: Receiver, command_id: str | None = None) -> list[dict[str, Any]]:
    """Bodies of the `command` reports head office received (for one id, if given)."""
    with head_office.lock:
        bodies = [e["body"] for e in head_office.reports.values() if e["kind"] == "command"]
    return [b for b in bodies if command_id is None or b["id"] == command_id]


def record_segments(state_file: Path, camera: str, from_ms: int, to_ms: int) -> None:
    """Index rows as nvr-backup would write them (the range checks read only the index)."""
    with StateStore.open(state_file) as store, store.write() as conn:
        for start in range(from_ms, to_ms, 10_000):
            conn.execute(
                "INSERT INTO segments (camera, path, start_ms, end_ms, bytes, created_at_ms)"
                " VALUES (?, ?, ?, ?, 1000, ?)",
                (camera, f"{camera}/{start}.mp4", start, start + 10_000, now_ms()),
            )


StartBox = Callable[..., Centre]


@pytest.fixture
def start_box(
    tmp_path: Path,
    broker: MosquittoBroker,
    centres: Callable[[], Centre],
    processes: list[NvrDaemon],
    head_office: Receiver,
) -> StartBox:
    """Start the given modules, then nvr-uplink, on the box's config; a centre that saw it
    online."""

    def start(*modules: str) -> Centre:
        config = box_config(tmp_path, broker, head_office_url=head_office.url)
        centre = centres()
        for module in (*modules, "nvr.uplink.main"):
            processes.append(NvrDaemon(module, config))
        centre.wait_message(f"status/{SITE}", 30, "online", state="online")
        return centre

    return start


def test_bad_commands_are_rejected_reported_and_not_run(
    tmp_path: Path, start_box: StartBox, processes: list[NvrDaemon], head_office: Receiver
) -> None:
    state_file = tmp_path / "state.db"
    recorded_from = datetime.now(UTC) - timedelta(minutes=10)
    record_segments(state_file, "cam01", int(recorded_from.timestamp() * 1000), now_ms() - 60_000)
    centre = start_box()

    def clip(**args: Any) -> dict[str, Any]:
        return {"camera": "cam01", "start": iso(recorded_from), "duration": 30, **args}

    signed_refusals = {
        "issued an hour ago": (
            centre.command("get_status", issued_at=datetime.now(UTC) - timedelta(hours=1)),
            "s old, more than uplink.commands.max_age_seconds",
        ),
        "unknown camera": (
            centre.command("snapshot", {"camera": "cam09"}),
            "snapshot: unknown camera 'cam09'",
        ),
        "too long": (
            centre.command("request_clip", clip(duration=MAX_CLIP_S + 1)),
            f"longer than uplink.commands.max_clip_seconds ({MAX_CLIP_S} s)",
        ),
        "not recorded": (
            centre.command("request_clip", clip(start=iso(recorded_from - timedelta(hours=2)))),
            "request_clip: nothing recorded for cam01 from",
        ),
        "in the future": (
            centre.command("request_clip", clip(start=iso(datetime.now(UTC)))),
            "reaches into the future",
        ),
        "no MinIO": (
            centre.command("request_clip", clip()),
            "MinIO is not configured (uplink.minio)",
        ),
        "unknown action": (centre.command("reboot"), "unknown action"),
        "bad argument": (
            centre.command("get_status", {"verbose": True}),
            "unknown argument 'verbose'",
        ),
    }
    unsigned = centre.command("get_status", secret=None)
    forged = centre.command("snapshot", {"camera": "cam01"}, secret="guessed-secret")
    # Signed with the (shared) secret, but for another site, or without naming one.
    elsewhere = centre.command("get_status", for_site="test-02")
    unbound = centre.command("get_status", bound=False)
    centre.publish_raw(b"reboot now")

    for case, (command, reason) in signed_refusals.items():
        result = centre.wait_result(command["id"], "rejected")
        assert reason in result["error"], case
        assert result["action"] == command["action"]
    assert centre.wait_result(unsigned["id"], "rejected")["error"] == "unsigned command"
    assert "bad signature" in centre.wait_result(forged["id"], "rejected")["error"]
    assert centre.wait_result(None, "rejected")["error"] == "not a JSON command"
    assert centre.wait_result(elsewhere["id"], "rejected")["error"] == (
        f"signed for site 'test-02', this is site {SITE!r}: not run here"
    )
    assert centre.wait_result(unbound["id"], "rejected")["error"] == (
        f"signed for site none, this is site {SITE!r}: not run here"
    )

    every = [c for c, _ in signed_refusals.values()] + [unsigned, forged, elsewhere, unbound]
    wait_for_reports(head_office, len(every) + 1)
    for command in every:
        (report,) = command_reports(head_office, command["id"])
        assert report["state"] == "rejected" and report["origin"] == "mqtt"
    # Signed commands are kept (their ids are taken); unsigned and forged ones are not, nor
    # those signed for another site.
    stored = dict(query(state_file, "SELECT command_id, state FROM commands"))
    assert stored == {c["id"]: "rejected" for c, _ in signed_refusals.values()}
    # Nothing was run: no protection, no upload, no report request.
    for table in ("protections", "uploads", "report_requests"):
        assert query(state_file, f"SELECT count(*) FROM {table}") == [(0,)], table
    log = processes[0].log()
    assert f"id={forged['id']} origin=mqtt outcome=rejected: bad signature" in log
    assert forged["signature"] not in log


def wait_for_reports(head_office: Receiver, count: int) -> None:
    wait_until(lambda: len(command_reports(head_office)) >= count, 30, f"{count} command reports")


def test_get_status_end_to_end_and_the_same_id_twice_runs_once(
    tmp_path: Path, start_box: StartBox, processes: list[NvrDaemon], head_office: Receiver
) -> None:
    centre = start_box("nvr.report.main")

    command = centre.command("get_status", command_id="status-now-1")
    assert centre.wait_result("status-now-1", "accepted")["result"] == {}
    done = centre.wait_result("status-now-1", "done", timeout=30)
    seq = done["result"]["seq"]
    status = done["result"]["status"]
    assert status["site_id"] == SITE and "nvr-report" in status["daemons"]
    assert set(done["result"]["cameras"]) == {"cam01", "cam02"}

    # The status report it names is at head office, with that seq and id.
    wait_for_reports(head_office, 2)
    with head_office.lock:
        reports = {e["seq"]: e for e in head_office.reports.values()}
    assert reports[seq]["kind"] == "status" and reports[seq]["id"] == done["result"]["report_id"]
    assert [r["state"] for r in command_reports(head_office, "status-now-1")] == [
        "accepted",
        "done",
    ]

    # Again with the same id: answered with the stored result, not run again.
    centre.publish_raw(json.dumps(command).encode())
    again = centre.wait_result("status-now-1", "done", count=2)
    assert again == done
    assert query(tmp_path / "state.db", "SELECT count(*) FROM report_requests") == [(1,)]
    log = processes[1].log()
    assert "id=status-now-1 origin=mqtt outcome=repeat: already done, not run again" in log
    assert "command action=get_status id=status-now-1 origin=mqtt outcome=done: seq=" in log


def test_a_forged_command_cannot_take_a_genuine_id(tmp_path: Path, start_box: StartBox) -> None:
    centre = start_box()

    genuine = centre.command("snapshot", {"camera": "cam07"}, command_id="evidence-42")
    first = centre.wait_result("evidence-42", "rejected")
    centre.command("get_status", command_id="evidence-42", secret="not-the-site-secret")
    forged = centre.wait_result("evidence-42", "rejected", count=2)
    assert "bad signature" in forged["error"] and forged["action"] == "get_status"

    ((action, state, result),) = query(
        tmp_path / "state.db",
        "SELECT action, state, result_json FROM commands WHERE command_id = 'evidence-42'",
    )
    assert (action, state, json.loads(result)) == ("snapshot", "rejected", first)
    centre.publish_raw(json.dumps(genuine).encode())  # the centre retries: same answer
    assert centre.wait_result("evidence-42", "rejected", count=3) == first
