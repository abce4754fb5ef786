"""The centre's side of MQTT: a paho client that watches the box and sends signed commands.

It signs on its own (canonical JSON, HMAC-SHA256) rather than with nvr's code, so the tests
check the documented wire format, not the implementation against itself.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import yaml
from paho.mqtt.enums import CallbackAPIVersion

from nvrtest import wait_until
from nvrtest.mqtt_broker import MosquittoBroker

SITE = "test-01"
SECRET = "site-secret-5d1c0b7e9a"  # head office secret = the site secret commands use
MQTT_USER = "nvr-box"
MQTT_PASSWORD = "mqtt-pw-83be61f0c4"
CENTRE_USER = "centre"
CENTRE_PASSWORD = "centre-pw-0a9d7c2e"
BROKER_USERS = {MQTT_USER: MQTT_PASSWORD, CENTRE_USER: CENTRE_PASSWORD}
STATUS_INTERVAL_S = 5
MAX_CLIP_S = 60
_ids = itertools.count(1)


@dataclass(frozen=True)
class Received:
    """One message the centre saw."""

    topic: str
    payload: dict[str, Any]
    retained: bool


def iso(at: datetime) -> str:
    """RFC 3339 UTC with milliseconds, as the centre writes times."""
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def sign(command: dict[str, Any], secret: str) -> dict[str, Any]:
    """`command` with `signature`: HMAC-SHA256 over the canonical JSON of the rest."""
    body = json.dumps(command, sort_keys=True, separators=(",", ":")).encode()
    mac = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {**command, "signature": f"sha256={mac}"}


class Centre:
    """Subscribed to `status/<site>/#` and the result topic; publishes commands."""

    def __init__(self, broker: MosquittoBroker, site: str = SITE) -> None:
        self.site = site
        self.lock = threading.Lock()
        self.received: list[Received] = []
        self._subscribed = threading.Event()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"centre-{uuid.uuid4().hex[:8]}"
        )
        self.client.username_pw_set(CENTRE_USER, CENTRE_PASSWORD)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        self.client.connect(broker.host, broker.port, keepalive=15)
        self.client.loop_start()
        if not self._subscribed.wait(10):
            raise AssertionError("the centre's client did not connect and subscribe")

    def _on_connect(self, client: mqtt.Client, *args: Any) -> None:
        client.subscribe(
            [(f"status/{self.site}", 1), (f"status/{self.site}/#", 1), (self.result_topic, 1)]
        )

    def _on_subscribe(self, *args: Any) -> None:
        self._subscribed.set()

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        payload = json.loads(message.payload) if message.payload else {}
        with self.lock:
            self.received.append(Received(message.topic, payload, bool(message.retain)))

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    # -- commands ------------------------------------------------------------------------
    @property
    def result_topic(self) -> str:
        return f"control/{self.site}/result"

    def command(
        self,
        action: str,
        args: dict[str, Any] | None = None,
        *,
        command_id: str | None = None,
        issued_at: datetime | None = None,
        secret: str | None = SECRET,
        for_site: str | None = None,
        bound: bool = True,
    ) -> dict[str, Any]:
        """Build, sign (unless `secret` is None) and publish a command; return it.

        It is signed for `for_site` (this centre's site by default) and that site's control
        topic; `bound=False` leaves both out, as commands were signed before issue 18.
        """
        command: dict[str, Any] = {
            "id": command_id or f"cmd-{next(_ids)}-{uuid.uuid4().hex[:6]}",
            "action": action,
            "args": args or {},
            "issued_at": iso(issued_at or datetime.now(UTC)),
        }
        if bound:
            site = for_site or self.site
            command.update(site=site, topic=f"control/{site}")
        if secret is not None:
            command = sign(command, secret)
        self.publish_raw(json.dumps(command).encode())
        return command

    def publish_raw(self, payload: bytes) -> None:
        self.client.publish(f"control/{self.site}", payload, qos=1).wait_for_publish(10)

    # -- what arrived --------------------------------------------------------------------
    def on(self, topic: str) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.topic == topic]

    def results(self, command_id: str | None) -> list[dict[str, Any]]:
        return [r.payload for r in self.on(self.result_topic) if r.payload.get("id") == command_id]

    def wait_result(
        self, command_id: str | None, state: str, timeout: float = 30, count: int = 1
    ) -> dict[str, Any]:
        """The `count`-th result of `command_id` in `state`."""

        def found() -> dict[str, Any] | None:
            matching = [r for r in self.results(command_id) if r["state"] == state]
            return matching[count - 1] if len(matching) >= count else None

        return wait_until(found, timeout, f"result {state} #{count} of command {command_id}")

    def wait_message(self, topic: str, timeout: float, what: str, **expect: Any) -> Received:
        """The first message on `topic` whose payload has all of `expect`."""

        def found() -> Received | None:
            for message in self.on(topic):
                if all(message.payload.get(k) == v for k, v in expect.items()):
                    return message
            return None

        return wait_until(found, timeout, what)


def presence(broker: MosquittoBroker, timeout: float = 10) -> Received:
    """What a client connecting now is told on `status/<site>` (the retained message)."""
    centre = Centre(broker)
    try:
        return wait_until(
            lambda: next(iter(centre.on(f"status/{SITE}")), None), timeout, "retained presence"
        )
    finally:
        centre.close()


def minutes_ago(minutes: float) -> datetime:
    return datetime.now(UTC) - timedelta(minutes=minutes)


def box_config(
    root: Path,
    broker: MosquittoBroker,
    *,
    cameras: list[dict[str, Any]] | None = None,
    head_office_url: str | None = None,
    minio: dict[str, Any] | None = None,
    **sections: Any,
) -> Path:
    """nvr.yaml for the box's processes: MQTT with a password (in a file), short intervals."""
    (root / "recordings").mkdir(parents=True, exist_ok=True)
    (root / "mqtt.password").write_text(MQTT_PASSWORD + "\n")
    (root / "site.key").write_text(SECRET + "\n")
    uplink: dict[str, Any] = {
        "retry_initial_seconds": 0.05,
        "retry_max_seconds": 0.5,
        "mqtt": {
            "host": broker.host,
            "port": broker.port,
            "tls": False,
            "username": MQTT_USER,
            "password_file": str(root / "mqtt.password"),
            "status_interval_seconds": STATUS_INTERVAL_S,
        },
        "commands": {"max_clip_seconds": MAX_CLIP_S},
    }
    if head_office_url is not None:
        uplink["head_office"] = {"url": head_office_url, "secret_file": str(root / "site.key")}
    else:
        uplink["commands"]["secret_file"] = str(root / "site.key")
    if minio is not None:
        uplink["minio"] = minio
    config = {
        "site": {"id": SITE, "name": "Test site"},
        "storage": {
            "recordings_dir": str(root / "recordings"),
            "state_file": str(root / "state.db"),
        },
        "cameras": cameras
        or [
            {"id": "cam01", "name": "Gate", "url": "rtsp://admin:cam-pw-1f2e@127.0.0.1:9/cam01"},
            {"id": "cam02", "name": "Yard", "url": "rtsp://admin:cam-pw-1f2e@127.0.0.1:9/cam02"},
        ],
        "uplink": uplink,
        **sections,
    }
    path = root / "nvr.yaml"
    path.write_text(yaml.safe_dump(config))
    return path
