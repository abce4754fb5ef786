"""The edge/cloud centre's ways of talking to the box: its command form over MQTT, and
Socket.IO (alerts with clip follow-ups, status, signed and unsigned commands), against
nvr-backup recording a simulated camera and nvr-uplink with a real mosquitto and MinIO.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from commands.centre import SECRET, SITE, Centre, iso, sign
from minio_server import MinioServer
from mqtt_broker import MosquittoBroker
from nvr.camsim import CameraSimulator
from nvrtest import query_state, wait_until
from uplink.helpers import Process
from uplink.receiver import Receiver

from .edge import EDGE_ID, EDGE_SECRET, edge_config
from .sio_centre import SocketIoCentre
from .test_alarm_clips import raise_alarm

pytestmark = pytest.mark.timeout(240)

CLIP_S = 3


@pytest.fixture
def sio_centre() -> Iterator[SocketIoCentre]:
    centre = SocketIoCentre(EDGE_ID, EDGE_SECRET)
    yield centre
    centre.close()


def edge_command(command: str, payload: dict[str, Any], *, signed: bool = True) -> dict[str, Any]:
    """A command as the edge/cloud centre writes it, with our envelope (id, time, site, topic)."""
    message = {
        "id": f"edge-{uuid.uuid4().hex[:10]}",
        "command": command,
        "payload": payload,
        "issued_at": iso(datetime.now(UTC)),
        "site": SITE,
        "topic": f"control/{SITE}",
    }
    return sign(message, SECRET) if signed else message


def recorded_start(state_file: Path, camera: str, seconds: int) -> datetime:
    def covered() -> datetime | None:
        rows = query_state(
            state_file, "SELECT min(start_ms), max(end_ms) FROM segments WHERE camera = ?", camera
        )
        if not rows or rows[0][0] is None or rows[0][1] < rows[0][0] + (seconds + 1) * 1000:
            return None
        return datetime.fromtimestamp((rows[0][0] + 1000) / 1000, UTC)

    return wait_until(covered, 60, f"{seconds} s of {camera} recorded")


def test_edge_cloud_commands_on_mqtt_and_socketio(
    tmp_path: Path,
    sim: CameraSimulator,
    broker: MosquittoBroker,
    minio: MinioServer,
    head_office: Receiver,
    hse: Receiver,
    sio_centre: SocketIoCentre,
    processes: list[Process],
) -> None:
    cameras = [{"id": "cam02", "name": "Yard", "url": sim.camera_url("cam02")}]
    (tmp_path / "edge.secret").write_text(EDGE_SECRET + "\n")
    socketio = {
        "url": sio_centre.url,
        "edge_id": EDGE_ID,
        "edge_secret_file": str(tmp_path / "edge.secret"),
        "status_interval_seconds": 2,
    }
    config = edge_config(
        tmp_path, broker, minio, cameras, head_office.url, hse.url, socketio=socketio
    )
    state_file = tmp_path / "state.db"
    processes.append(Process("nvr.backup.main", config))
    processes.append(Process("nvr.uplink.main", config))
    mqtt = Centre(broker)
    try:
        mqtt.wait_message(f"status/{SITE}", 30, "online", state="online")
        # The edge/cloud form over MQTT: a naive start_time is UTC, as that centre writes it.
        start = recorded_start(state_file, "cam02", CLIP_S)
        payload = {
            "camera_id": "cam02",
            "start_time": start.strftime("%Y-%m-%dT%H:%M:%S"),
            "duration": CLIP_S,
        }
        clip = edge_command("request_clip", payload)
        mqtt.publish_raw(json.dumps(clip).encode())
        done = mqtt.wait_result(clip["id"], "done", timeout=60)
        assert done["action"] == "request_clip"
        bucket, key = done["result"]["minio_file_path"].split("/", 1)
        assert minio.client().stat_object(bucket, key).size == done["result"]["bytes"]
        assert done["result"]["from"] == iso(start.replace(microsecond=0))
        # The same id again: answered from the state, not run twice.
        mqtt.publish_raw(json.dumps(clip).encode())
        assert mqtt.wait_result(clip["id"], "done", count=2)["result"] == done["result"]
        # Tampered after signing: refused like any forged command.
        forged = {**clip, "id": "edge-forged-1", "payload": {**payload, "duration": 1}}
        mqtt.publish_raw(json.dumps(forged).encode())
        assert "bad signature" in mqtt.wait_result("edge-forged-1", "rejected")["error"]
    finally:
        mqtt.close()

    # Socket.IO: connected with edge_id/edge_secret, status at once.
    status = wait_until(lambda: sio_centre.got("status"), 30, "a status over Socket.IO")[0]
    assert status["edge_id"] == EDGE_ID and status["site_id"] == SITE
    assert status["cameras"]["configured"] == 1

    # A signed command is run; an unsigned one is refused and takes no row.
    snap = edge_command("snapshot", {"camera_id": "cam02"})
    sio_centre.send_command(snap)
    result = sio_centre.wait_result(snap["id"], "done", timeout=60)["result"]
    assert result["minio_image_path"].startswith("alarm-images/")
    unsigned = edge_command("snapshot", {"camera_id": "cam02"}, signed=False)
    sio_centre.send_command(unsigned)
    refused = sio_centre.wait_result(unsigned["id"], "rejected")
    assert refused["error"] == "unsigned command"
    assert query_state(
        state_file, "SELECT origin FROM commands WHERE command_id = ?", snap["id"]
    ) == [("socketio",)]
    assert not query_state(
        state_file, "SELECT 1 FROM commands WHERE command_id = ?", unsigned["id"]
    )

    # An alarm: an alert at once, then the same alarm again with its clip_path.
    alarm_id, _ = raise_alarm(state_file, "cam02")

    def alerts() -> list[dict[str, Any]]:
        return [a for a in sio_centre.got("alert") if a.get("alarm_event_id") == alarm_id]

    first = wait_until(alerts, 30, "the alert over Socket.IO")[0]
    assert first["alert_type"] == "NoHelmet" and first["camera_id"] == "cam02"
    assert "clip_path" not in first
    follow = wait_until(lambda: alerts()[1:], 60, "the alert's clip follow-up")[0]
    assert follow["clip_path"].startswith("recordings/") and follow["alert_type"] == "alarm_clip"
    # Acknowledged alerts are not sent again.
    assert len(alerts()) == 2

    # The centre hangs up and, reset, no longer knows this box's secret: refused, retried
    # with back-off; once it knows the secret again the box is back with a fresh status.
    sio_centre.edge_secret = "another-secret"
    sio_centre.hang_up()
    wait_until(lambda: len(sio_centre.refused) >= 2, 30, "the box refused, and retrying")
    assert set(sio_centre.refused) == {EDGE_ID}
    statuses = len(sio_centre.got("status"))
    sio_centre.edge_secret = EDGE_SECRET
    wait_until(lambda: len(sio_centre.got("status")) > statuses, 90, "the box reconnected")
