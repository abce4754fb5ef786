"""The edge/cloud command form read as ours, and clip follow-ups never coalesced (no processes)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nvr.core.redact import Secret
from nvr.report.coalesce import Coalescer, Notice
from nvr.uplink.commands.wire import (
    Destination,
    Refusal,
    authenticate,
    check_envelope,
    read_object,
    signature,
)

SITE = "test-01"
KEY = Secret("forms-secret-20")
HERE = Destination(SITE, f"control/{SITE}")


def now_ms() -> int:
    return int(datetime.now(UTC).timestamp() * 1000)


def signed(obj: dict[str, Any]) -> bytes:
    envelope = {
        "id": "c-1",
        "issued_at": datetime.now(UTC).isoformat(),
        "site": SITE,
        "topic": f"control/{SITE}",
        **obj,
    }
    return json.dumps({**envelope, "signature": signature(envelope, KEY)}).encode()


def read(payload: bytes) -> Any:
    command = authenticate(read_object(payload), (KEY,), "mqtt", HERE)
    check_envelope(command, now_ms(), 600)
    return command


def test_the_edge_cloud_form_is_our_command() -> None:
    payload = {"camera_id": "cam01", "start_time": "2026-12-01T01:00:00", "duration": 60}
    edge = read(signed({"command": "request_clip", "payload": payload}))
    ours = read(
        signed(
            {
                "action": "request_clip",
                "args": {"camera": "cam01", "start": "2026-12-01T01:00:00+00:00", "duration": 60},
            }
        )
    )
    assert (edge.action, edge.args) == (ours.action, ours.args)
    # An offset given is kept; a snapshot's camera_id is our camera.
    kept = read(signed({"command": "request_clip", "payload": {**payload, "start_time": "x"}}))
    assert kept.args["start"] == "x"  # left for request_clip's own check to refuse
    snap = read(signed({"command": "snapshot", "payload": {"camera_id": "cam02"}}))
    assert (snap.action, snap.args) == ("snapshot", {"camera": "cam02"})


@pytest.mark.parametrize(
    ("obj", "reason"),
    [
        ({"command": "restart_detection"}, "unknown action"),
        ({"command": "request_clip", "payload": [1]}, "args must be a JSON object"),
    ],
)
def test_what_the_edge_cloud_design_has_and_we_do_not_is_refused(
    obj: dict[str, Any], reason: str
) -> None:
    with pytest.raises(Refusal) as info:
        read(signed(obj))
    assert reason in info.value.reason


def test_a_tampered_payload_fails_the_signature() -> None:
    message = json.loads(signed({"command": "snapshot", "payload": {"camera_id": "cam01"}}))
    message["payload"]["camera_id"] = "cam02"
    with pytest.raises(Refusal) as info:
        read(json.dumps(message).encode())
    assert info.value.reason.startswith("bad signature") and info.value.action == "snapshot"


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    command=st.one_of(st.none(), st.integers(), st.text(max_size=20)),
    payload=st.one_of(
        st.none(),
        st.lists(st.integers(), max_size=2),
        st.dictionaries(st.text(max_size=12), st.one_of(st.text(max_size=30), st.integers())),
    ),
)
def test_any_edge_cloud_message_is_a_command_or_a_one_line_refusal(
    command: Any, payload: Any
) -> None:
    try:
        read(signed({"command": command, "payload": payload}))
    except Refusal as refusal:
        assert refusal.reason and "\n" not in refusal.reason


def test_clip_follow_ups_are_never_coalesced() -> None:
    coalescer = Coalescer(window_ms=300_000)

    def notice(kind: str, at_ms: int, data: dict[str, Any]) -> Notice:
        return Notice("camera:cam01", kind, "info", kind, at_ms, "cam01", data)

    # The alarm's report is out; a second alarm within the window is held...
    assert coalescer.offer(Notice("camera:cam01", "NoHelmet", "critical", "a", 0, "cam01"), 0)
    assert (
        coalescer.offer(Notice("camera:cam01", "NoHelmet", "critical", "b", 1, "cam01"), 1) is None
    )
    # ...but each clip follow-up leaves at once with its own path.
    first = coalescer.offer(notice("alarm_clip", 2, {"clip_path": "recordings/a.mp4"}), 2)
    second = coalescer.offer(notice("alarm_clip", 3, {"clip_path": "recordings/b.mp4"}), 3)
    assert first is not None and first.body["data"]["clip_path"] == "recordings/a.mp4"
    assert second is not None and second.body["data"]["clip_path"] == "recordings/b.mp4"
    assert coalescer.held == 1
