"""nvr-uplink on a real mosquitto: presence with a last will, retained status, reconnects."""

from __future__ import annotations

import json
import signal
from collections.abc import Callable
from pathlib import Path

import pytest

from nvr.core.state import StateStore, now_ms
from nvrtest import NvrDaemon, query_state, wait_until
from nvrtest.mqtt_broker import MosquittoBroker

from .centre import SITE, Centre, box_config, presence

pytestmark = pytest.mark.timeout(120)

PRESENCE = f"status/{SITE}"
STATE = f"status/{SITE}/state"


def uplink_status(state_file: Path) -> str:
    """nvr-uplink's STATUS line as its heartbeat row carries it."""
    rows = query_state(state_file, "SELECT status FROM heartbeats WHERE daemon = 'nvr-uplink'")
    return str(rows[0][0]) if rows else ""


def test_last_will_on_kill_9_online_after_restart_offline_on_clean_stop(
    tmp_path: Path,
    broker: MosquittoBroker,
    centres: Callable[[], Centre],
    processes: list[NvrDaemon],
) -> None:
    config = box_config(tmp_path, broker)
    centre = centres()
    first = NvrDaemon("nvr.uplink.main", config)
    processes.append(first)
    centre.wait_message(PRESENCE, 30, "online after start", state="online")

    first.kill()  # SIGKILL: no goodbye; the broker sends the will at once (socket closed)
    will = centre.wait_message(PRESENCE, 10, "the last will", state="offline")
    assert will.payload == {"site_id": SITE, "state": "offline"}
    assert presence(broker).payload == will.payload  # retained for whoever connects later

    second = NvrDaemon("nvr.uplink.main", config)
    processes.append(second)
    wait_until(lambda: presence(broker).payload["state"] == "online", 30, "online again")
    online = presence(broker).payload
    assert online["site_id"] == SITE and "since" in online and "version" in online

    assert second.stop() == 0
    goodbye = presence(broker).payload
    assert goodbye["state"] == "offline" and "at" in goodbye, "a clean stop says offline itself"
    assert "MQTT connected" in second.log()


def test_reconnects_by_itself_and_keeps_status_retained(
    tmp_path: Path,
    broker: MosquittoBroker,
    centres: Callable[[], Centre],
    processes: list[NvrDaemon],
) -> None:
    config = box_config(tmp_path, broker)
    seed_state(tmp_path / "state.db")
    broker.stop()  # the broker is down when nvr-uplink starts
    processes.append(NvrDaemon("nvr.uplink.main", config))
    state_file = tmp_path / "state.db"
    wait_until(
        lambda: "MQTT disconnected: cannot connect to" in uplink_status(state_file),
        30,
        "STATUS saying the broker cannot be reached",
    )
    assert "reconnecting" in uplink_status(state_file)

    broker.start()
    check_retained_status(centres)

    broker.stop()  # the broker goes away while connected, and comes back empty
    wait_until(lambda: "MQTT disconnected" in uplink_status(state_file), 30, "STATUS: lost")
    broker.start()
    wait_until(lambda: uplink_status(state_file) == "MQTT connected", 60, "STATUS: connected")
    check_retained_status(centres)
    lost = f"MQTT disconnected: connection to {broker.host}:{broker.port} lost, reconnecting"
    assert lost in processes[0].log()


def test_camera_added_by_sighup_gets_its_retained_topic(
    tmp_path: Path,
    broker: MosquittoBroker,
    centres: Callable[[], Centre],
    processes: list[NvrDaemon],
) -> None:
    """A technician adds a camera and reloads: the centre sees it without a restart."""
    config = box_config(tmp_path, broker)
    uplink = NvrDaemon("nvr.uplink.main", config)
    processes.append(uplink)
    centre = centres()
    centre.wait_message(f"status/{SITE}/cameras/cam02", 30, "cam02's topic")
    text = config.read_text().replace(
        "cameras:\n",
        "cameras:\n- id: cam03\n  name: Dock\n  url: rtsp://admin:cam-pw-1f2e@127.0.0.1:9/cam03\n",
        1,
    )
    config.write_text(text)
    uplink.proc.send_signal(signal.SIGHUP)
    cam03 = centre.wait_message(f"status/{SITE}/cameras/cam03", 30, "cam03's topic")
    assert cam03.payload["name"] == "Dock"
    assert uplink.stop() == 0


def seed_state(state_file: Path) -> None:
    """What other daemons would have written: recording state, disk usage, a failed check."""
    backup = {"cameras": {"cam01": {"state": "recording"}, "cam02": {"state": "offline"}}}
    hddmon = {"percent": 41.5, "free_bytes": 5 << 30, "total_bytes": 9 << 30}
    with StateStore.open(state_file) as store, store.write() as conn:
        for daemon, detail in (("nvr-backup", backup), ("nvr-hddmon", hddmon)):
            # They promise a beat an hour: their rows stay fresh for the whole test.
            conn.execute(
                "INSERT INTO heartbeats (daemon, pid, state, status, detail_json, started_at_ms,"
                " updated_at_ms, interval_ms) VALUES (?, 1, 'running', '', ?, ?, ?, 3600000)",
                (daemon, json.dumps(detail), now_ms(), now_ms()),
            )
        conn.execute(
            "INSERT INTO validations (camera, check_name, status, reason, checked_at_ms)"
            " VALUES ('cam02', 'black', 'fail', 'picture is black', ?)",
            (now_ms(),),
        )


def check_retained_status(centres: Callable[[], Centre]) -> None:
    """Once the box has published, a client that connects is told everything by retained
    messages alone: presence, the site status and each camera."""
    topics = [PRESENCE, STATE, f"status/{SITE}/cameras/cam01", f"status/{SITE}/cameras/cam02"]
    watcher = centres()
    watcher.wait_message(PRESENCE, 30, "online", state="online")
    for topic in topics[1:]:
        watcher.wait_message(topic, 30, f"a message on {topic}")
    late = centres()
    first = {t: late.wait_message(t, 10, f"retained {t}") for t in topics}
    assert all(message.retained for message in first.values()), "status topics must be retained"
    assert first[PRESENCE].payload["state"] == "online"
    state, cam01, cam02 = (first[t].payload for t in topics[1:])
    assert state["site_id"] == SITE
    assert state["disk"] == {
        "known": True,
        "percent": 41.5,
        "free_bytes": 5 << 30,
        "total_bytes": 9 << 30,
    }
    assert state["cameras"] == {"configured": 2, "recording": 1}
    assert state["daemons"]["nvr-uplink"]["state"] == "running"
    assert state["daemons"]["nvr-backup"]["stale"] is False
    assert cam01["recording"] == {"state": "recording"} and cam01["name"] == "Gate"
    assert cam01["validation"] is None
    assert cam02["recording"] == {"state": "offline"}
    assert cam02["validation"]["status"] == "fail"
    assert cam02["validation"]["problems"] == [
        {"check": "black", "status": "fail", "reason": "picture is black"}
    ]


def test_a_refused_password_is_named_in_status_but_never_logged(
    tmp_path: Path, broker: MosquittoBroker, processes: list[NvrDaemon]
) -> None:
    config = box_config(tmp_path, broker)
    wrong = "wrong-mqtt-pw-7c41d9"
    (tmp_path / "mqtt.password").write_text(wrong + "\n")
    processes.append(NvrDaemon("nvr.uplink.main", config))
    state_file = tmp_path / "state.db"
    wait_until(
        lambda: uplink_status(state_file) == "MQTT disconnected: Not authorized, reconnecting",
        30,
        "STATUS naming the broker's refusal",
    )
    assert wrong not in processes[0].log()
