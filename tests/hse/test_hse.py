"""nvr-hse as the HSE backend sees it, on one running stack of real daemons.

Cameras from the simulator recorded by nvr-backup; nvr-hse on its own port; nvr-uplink
with a real mosquitto and MinIO; nvr-livestream with the proxy mediamtx (the viewer URLs
of the camera list must open). The backend's side is written the way its design shows:
the `websockets` library, `async for message in ws`, reconnecting when the box drops.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
import requests
import websockets
import yaml
from minio import Minio
from paho.mqtt.enums import CallbackAPIVersion

from livestream.harness import API_SECRET, Ports, ProxyMediamtx, ffprobe
from nvr.core.passwords import hash_password
from nvr.livestream.constants import MEDIAMTX_API_USER
from nvr_camsim import CameraSimulator, Fault
from nvr_camsim.mediamtx import free_port
from nvrtest import NvrDaemon, query_state, wait_until
from nvrtest.minio_server import MinioServer
from nvrtest.mqtt_broker import MosquittoBroker

pytestmark = pytest.mark.timeout(300)

SITE = "test-01"
TOKEN = "centre-token-4f8a21c9d7"
INGEST_TOKEN = "site-ingest-0b7e55a1"
VIEWER, VIEWER_PW = "control-room", "control-room-pw-77"
CAMERAS = ("cam01", "cam02")
SEGMENT_SECONDS = 2
BURST = 5


class MqttWatcher:
    """The centre's MQTT client: everything on alarm/<site> and recording/<site>."""

    def __init__(self, broker: MosquittoBroker) -> None:
        self.lock = threading.Lock()
        self.messages: list[tuple[str, dict[str, Any], bool]] = []
        subscribed = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="hse-centre-test")
        self.client.on_connect = lambda c, *a: c.subscribe(
            [(f"alarm/{SITE}", 1), (f"recording/{SITE}", 1)]
        )
        self.client.on_subscribe = lambda *a: subscribed.set()
        self.client.on_message = self._message
        self.client.connect(broker.host, broker.port, keepalive=15)
        self.client.loop_start()
        assert subscribed.wait(10), "the centre's MQTT client did not subscribe"

    def _message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        with self.lock:
            self.messages.append((message.topic, json.loads(message.payload), message.retain))

    def on(self, topic: str) -> list[dict[str, Any]]:
        with self.lock:
            return [m[1] for m in self.messages if m[0] == topic]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class Backend:
    """The HSE backend's alarm listener: websockets, `async for`, reconnect, a cursor.

    `pause()` drops the connection and stays away until `resume()`; the cursor (the id of
    the last message) goes into `?since=` on every reconnect.
    """

    def __init__(self, url: str, token: str | None) -> None:
        self.url = url
        self.token = token
        self.received: list[dict[str, Any]] = []
        self.refusals: list[int] = []
        self.connects = 0
        self._away = threading.Event()
        self._stop = threading.Event()
        self._ws: Any = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_until_complete, args=(self._run(),))
        self._thread.start()

    @property
    def cursor(self) -> int:
        return int(self.received[-1]["id"]) if self.received else 0

    async def _run(self) -> None:
        while not self._stop.is_set():
            if self._away.is_set():
                await asyncio.sleep(0.1)
                continue
            headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
            url = f"{self.url}?since={self.cursor}" if self.received else self.url
            try:
                async with websockets.connect(url, additional_headers=headers) as ws:
                    self._ws = ws
                    self.connects += 1
                    async for message in ws:
                        self.received.append(json.loads(message))
            except websockets.InvalidStatus as err:
                self.refusals.append(err.response.status_code)
            except (OSError, websockets.ConnectionClosed):
                pass
            self._ws = None
            await asyncio.sleep(0.3)

    def pause(self) -> None:
        self._away.set()
        ws = self._ws
        if ws is not None:
            asyncio.run_coroutine_threadsafe(ws.close(), self._loop).result(10)
        wait_until(lambda: self._ws is None, 10, "the backend's connection closed")

    def resume(self) -> None:
        self._away.clear()

    def close(self) -> None:
        self._stop.set()
        self.pause()
        self._thread.join(10)
        self._loop.close()

    def alarms(self, **expect: Any) -> list[dict[str, Any]]:
        return [m for m in self.received if all(m.get(k) == v for k, v in expect.items())]


@dataclass
class Stack:
    root: Path
    config: Path
    port: int
    sim: CameraSimulator
    minio: MinioServer
    broker: MosquittoBroker
    daemons: dict[str, NvrDaemon]
    mqtt: MqttWatcher

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def state_file(self) -> Path:
        return self.root / "state" / "state.db"

    def get(self, path: str, token: str | None = TOKEN) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return requests.get(f"{self.base}{path}", headers=headers, timeout=10)

    def post_event(self, body: Any, token: str = INGEST_TOKEN) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}"}
        return requests.post(f"{self.base}/api/events", json=body, headers=headers, timeout=10)

    def backend(self, token: str | None = TOKEN) -> Backend:
        return Backend(f"ws://127.0.0.1:{self.port}/alarm/", token)


def write_config(
    root: Path, sim: CameraSimulator, minio: MinioServer, broker: MosquittoBroker, port: int,
    ports: Ports,
) -> Path:  # fmt: skip
    for sub in ("recordings", "state"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    config = {
        "site": {"id": SITE, "name": "Test site"},
        "storage": {
            "recordings_dir": str(root / "recordings"),
            "state_file": str(root / "state" / "state.db"),
        },
        "recording": {
            "segment_seconds": SEGMENT_SECONDS,
            "liveness_probe_seconds": 1,
            "backoff": {
                "initial_seconds": 1,
                "factor": 1.0,
                "max_seconds": 1,
                "warn_after_failures": 2,
                "critical_after_failures": 1000,
            },
        },
        "livestream": {
            "listen": f"127.0.0.1:{ports.listen}",
            "mediamtx_api": f"http://127.0.0.1:{ports.api}",
            "public_host": "127.0.0.1",
            "rtsp_port": ports.rtsp,
            "hls_port": ports.hls,
            "webrtc_port": ports.webrtc,
            "reconcile_seconds": 2,
            "viewers": [
                {"user": VIEWER, "password_hash": hash_password(VIEWER_PW), "cameras": "all"}
            ],
            "mediamtx_api_secret": API_SECRET,
        },
        "uplink": {
            "minio": minio.config_section(),
            "mqtt": {
                "host": broker.host,
                "port": broker.port,
                "tls": False,
                "status_interval_seconds": 5,
            },
            "retry_initial_seconds": 0.2,
            "retry_max_seconds": 1.0,
        },
        "validation": {"interval_seconds": 10, "sample_seconds": 1, "timeout_seconds": 30},
        "hse": {
            "listen": f"127.0.0.1:{port}",
            "token": TOKEN,
            "ingest_token": INGEST_TOKEN,
            "ingest_per_minute": 6,
            "ingest_burst": BURST,
        },
        "cameras": [
            {"id": cid, "name": f"Camera {cid}", "url": sim.camera_url(cid)} for cid in CAMERAS
        ],
    }
    path = root / "nvr.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(scope="module")
def stack(simulator: CameraSimulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("hse")
    port, ports = free_port(), Ports()
    with contextlib.ExitStack() as cleanup:
        minio = cleanup.enter_context(MinioServer(root / "minio"))
        broker = cleanup.enter_context(MosquittoBroker(root / "mqtt"))
        config = write_config(root, simulator, minio, broker, port, ports)
        watcher = MqttWatcher(broker)
        cleanup.callback(watcher.close)
        daemons: dict[str, NvrDaemon] = {}
        cleanup.callback(_kill_all, daemons)
        # The validator is started by the test that needs it (CPU on 2 cores).
        for name in ("backup", "report", "uplink", "livestream", "hse"):
            daemons[name] = NvrDaemon(f"nvr.{name}.main", config)
        proxy = ProxyMediamtx(root / "proxy", ports)
        proxy.api_auth = (MEDIAMTX_API_USER, API_SECRET)  # as nvr-livestream reads it
        cleanup.callback(proxy.stop)
        proxy.start()
        made = Stack(root, config, port, simulator, minio, broker, daemons, watcher)
        wait_until(lambda: _answers(made), 60, "nvr-hse answering on its port")
        for camera in CAMERAS:
            wait_until(
                lambda c=camera: query_state(made.state_file, "SELECT 1 FROM segments"
                                             " WHERE camera = ?", c),
                60,
                f"{camera} recorded",
            )  # fmt: skip
        yield made
        for name, daemon in daemons.items():
            text = daemon.log()
            for secret in (TOKEN, INGEST_TOKEN, minio.secret_key, VIEWER_PW):
                assert secret not in text, f"a secret reached nvr-{name}'s log"


def _kill_all(daemons: dict[str, NvrDaemon]) -> None:
    for daemon in daemons.values():
        if daemon.alive:
            daemon.kill()


def _answers(stack: Stack) -> bool:
    try:
        return stack.get("/api/health").status_code == 200
    except requests.ConnectionError:
        return False


def test_backend_registers_the_box_and_hears_a_camera_go_and_come_back(stack: Stack) -> None:
    # Refused without the token: the API with 401, the WebSocket at its upgrade.
    assert stack.get("/api/cameras", token=None).status_code == 401
    assert stack.get("/api/health", token="wrong").status_code == 401
    # A client that can only set a URL puts the token in it (never logged: see teardown).
    assert stack.get(f"/api/health?token={TOKEN}", token=None).status_code == 200
    intruder = stack.backend(token=None)
    wait_until(lambda: intruder.refusals, 30, "the WebSocket refusing a client without token")
    intruder.close()
    assert set(intruder.refusals) == {401} and intruder.received == []

    # sync-cameras: the configured cameras as video sources, with URLs that open.
    health = stack.get("/api/health").json()
    assert (health["status"], health["site_id"], health["cameras"]) == ("ok", SITE, 2)
    sources = stack.get("/api/cameras").json()["video_sources"]
    assert [(s["name"], s["stream_name"], s["is_active"]) for s in sources] == [
        ("Camera cam01", "cam01", True),
        ("Camera cam02", "cam02", True),
    ]
    url = sources[1]["url"]
    assert url.startswith("rtsp://127.0.0.1:") and "@" not in url  # no credentials in it
    viewer_url = url.replace("rtsp://", f"rtsp://{VIEWER}:{VIEWER_PW}@")
    probe = wait_until(lambda: _probe(viewer_url), 90, "the camera list's RTSP URL playing")
    assert '"codec_name": "h264"' in probe
    assert sources[1]["urls"]["hls"].endswith("/cam02/index.m3u8")

    backend = stack.backend()
    try:
        wait_until(lambda: backend.connects, 30, "the backend connected")
        stack.sim.set_fault("cam02", Fault.OFFLINE)
        offline = wait_until(
            lambda: backend.alarms(alarm_type="CameraOffline", camera_id="cam02"),
            90,
            "a CameraOffline alarm on the WebSocket",
        )[0]
        assert offline["camera_name"] == "Camera cam02" and offline["type"] == "alarm"
        assert datetime.fromisoformat(offline["alarm_time"]).tzinfo is not None
        assert abs(datetime.fromisoformat(offline["alarm_time"]).timestamp() - time.time()) < 120

        # The backend drops; the camera comes back meanwhile; the reconnect replays it.
        backend.pause()
        missed_from = backend.cursor
        stack.sim.set_fault("cam02", None)
        wait_until(
            lambda: query_state(stack.state_file, "SELECT 1 FROM hse_alarms WHERE message_json"
                                " LIKE '%CameraOnline%' AND id > ?", missed_from),
            90,
            "the back message stored while the backend was away",
        )  # fmt: skip
        backend.resume()
        back = wait_until(
            lambda: backend.alarms(alarm_type="CameraOnline", camera_id="cam02"),
            30,
            "the back message replayed after the reconnect",
        )[0]
        assert back["clears"] == "CameraOffline" and back["id"] > offline["id"]
        ids = [m["id"] for m in backend.received]
        assert ids == sorted(set(ids)), "nothing twice, nothing out of order"
        assert backend.connects >= 2
    finally:
        stack.sim.set_fault("cam02", None)
        backend.close()
    # The same alarms on MQTT, as JSON like the WebSocket's.
    wanted = {offline["id"]: offline, back["id"]: back}
    on_mqtt = wait_until(
        lambda: (
            [m for m in stack.mqtt.on(f"alarm/{SITE}") if m["id"] in wanted]
            if len({m["id"] for m in stack.mqtt.on(f"alarm/{SITE}")} & set(wanted)) == 2
            else None
        ),
        30,
        "both of the camera's alarms on alarm/<site>",
    )
    assert all(m == wanted[m["id"]] for m in on_mqtt), "the same JSON as on the WebSocket"
    recording = wait_until(lambda: stack.mqtt.on(f"recording/{SITE}"), 30, "recording/<site>")
    assert set(recording[-1]["cameras"]) == set(CAMERAS)


def _probe(url: str) -> str | None:
    result = ffprobe(url, timeout=20)
    return result.stdout if result.returncode == 0 and "codec_name" in result.stdout else None


def test_ingest_checks_fields_limits_floods_and_survives_kill_9(stack: Stack) -> None:
    # Bad input: a 4xx that names the field; an unknown camera is a 4xx too.
    bad = stack.post_event({"camera": "cam01", "type": "No Helmet!"})
    assert bad.status_code == 400 and bad.json()["field"] == "type"
    bad = stack.post_event({"camera": "cam01", "type": "Fire", "time": "yesterday"})
    assert bad.status_code == 400 and bad.json()["field"] == "time"
    bad = stack.post_event({"camera": "cam09", "type": "Fire"})
    assert bad.status_code == 404 and "cam09" in bad.json()["error"]
    bad = stack.post_event({"camera": "cam01", "type": "Fire", "colour": "red"})
    assert bad.status_code == 400 and bad.json()["field"] == "colour"
    assert stack.post_event({"camera": "cam01", "type": "Fire"}, token="nope").status_code == 401

    backend = stack.backend()
    try:
        wait_until(lambda: backend.connects, 30, "the backend connected")
        # Accepted, then nvr-hse killed at once: the event is in the state file already.
        at = datetime.now(UTC).isoformat(timespec="seconds")
        accepted = stack.post_event(
            {"camera": "cam01", "type": "NoHelmet", "time": at, "details": {"zone": "B"}}
        )
        assert accepted.status_code == 201, accepted.text
        stack.daemons["hse"].kill()
        event_id = accepted.json()["id"]
        assert query_state(stack.state_file, "SELECT kind FROM events WHERE id = ?", event_id)
        # Killed before it made the alarm (its picture takes an ffmpeg run): the restart must.
        assert not query_state(
            stack.state_file, "SELECT 1 FROM hse_alarms WHERE event_id = ?", event_id
        )
        stack.daemons["hse"].start()

        alarm = wait_until(
            lambda: backend.alarms(alarm_type="NoHelmet", event_id=event_id),
            60,
            "the posted alarm delivered after the restart",
        )[0]
        assert (alarm["camera_id"], alarm["source"], alarm["details"]) == (
            "cam01",
            "ingest",
            {"zone": "B"},
        )
        # Its picture: a frame of cam01's recording, served by the box and bound for MinIO.
        picture = requests.get(alarm["image_url"], timeout=10)
        assert picture.status_code == 200 and picture.content[:2] == b"\xff\xd8"
        day = datetime.now(UTC).strftime("%Y/%m/%d")
        assert alarm["minio_image_path"].startswith(f"alarm-images/{day}/{SITE}/cam01/")
        bucket, key = alarm["minio_image_path"].split("/", 1)
        client = Minio(stack.minio.endpoint, stack.minio.access_key, stack.minio.secret_key,
                       secure=False)  # fmt: skip
        stored = wait_until(lambda: _object(client, bucket, key), 60, "the picture in MinIO")
        assert stored == picture.content
        on_mqtt = wait_until(
            lambda: [m for m in stack.mqtt.on(f"alarm/{SITE}") if m["event_id"] == event_id],
            30,
            "the posted alarm on alarm/<site>",
        )
        assert on_mqtt[0]["id"] == alarm["id"] and on_mqtt[0]["image_url"] == alarm["image_url"]
        assert len(backend.alarms(event_id=event_id)) == 1, "delivered once"

        # nvr-uplink cuts the alarm's clip (10 s before, 20 s after), uploads it, and the
        # follow-up names the alarm's message (docs/design/hse-edge.md).
        clip = wait_until(
            lambda: backend.alarms(type="clip", alarm_id=alarm["id"]), 120, "the clip follow-up"
        )[0]
        bucket, key = clip["clip_path"].split("/", 1)
        assert bucket == "recordings" and key.startswith(f"{day}/{SITE}/cam01/alarm-")
        assert key.endswith(f"-{event_id}.mp4") and _object(client, bucket, key)
        assert len(backend.alarms(type="clip", alarm_id=alarm["id"])) == 1
    finally:
        backend.close()

    # A flood from one client (nvr-hse's restart gave it a full bucket): the burst passes,
    # then 429 with Retry-After.
    codes = [stack.post_event({"camera": "cam02", "type": "Fire"}) for _ in range(BURST + 5)]
    assert [c.status_code for c in codes].count(429) >= 3
    assert int(codes[-1].headers["Retry-After"]) >= 1
    # The ingest events also reach head office and the HSE API as alarm reports.
    reports = wait_until(
        lambda: query_state(stack.state_file, "SELECT envelope_json FROM outbox WHERE kind ="
                            " 'alarm' AND envelope_json LIKE '%external_alarm%'"),
        60,
        "the posted alarm as an alarm report in the outbox",
    )  # fmt: skip
    assert reports


def _object(client: Minio, bucket: str, key: str) -> bytes | None:
    try:
        response = client.get_object(bucket, key)
    except Exception:
        return None
    try:
        return bytes(response.read())
    finally:
        response.close()
        response.release_conn()


def test_a_black_picture_is_an_alarm_with_the_validators_picture(stack: Stack) -> None:
    backend = stack.backend()
    try:
        wait_until(lambda: backend.connects, 30, "the backend connected")
        stack.sim.set_fault("cam02", Fault.BLACK)
        stack.daemons["validator"] = NvrDaemon("nvr.validator.main", stack.config)
        alarm = wait_until(
            lambda: backend.alarms(alarm_type="PictureBlack", camera_id="cam02"),
            90,
            "a PictureBlack alarm",
        )[0]
        picture = requests.get(alarm["image_url"], timeout=10)
        assert picture.status_code == 200 and picture.content[:2] == b"\xff\xd8"
        # The validator queued its own copy for MinIO; the alarm names that one.
        assert alarm["minio_image_path"].startswith("alarm-images/")
        assert "/cam02/" in alarm["minio_image_path"]
    finally:
        stack.daemons["validator"].kill()
        stack.sim.set_fault("cam02", None)
        backend.close()
