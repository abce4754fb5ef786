"""MQTT: the box's presence and status on the centre's broker, and its command channel.

One paho-mqtt client per box (`nvr-<site_id>`), QoS 1 throughout:
- `status/<site>`: retained `online` while connected; the broker publishes the retained
  last will `offline` when the connection dies without a goodbye (kill -9, power cut, WAN
  down); a clean stop publishes `offline` itself.
- `status/<site>/state` and `status/<site>/cameras/<camera>`: retained status JSON, every
  `uplink.mqtt.status_interval_seconds` and at once after each (re)connect.
- `control/<site>`: commands in, handed to the command runner; `control/<site>/result`:
  answers out.
paho's own thread reconnects with back-off (connect_async + loop_start), also when the
broker is down at start. See docs/design/commands.md.
"""

from __future__ import annotations

import json
import logging
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from nvr import __version__
from nvr.core.config import Config
from nvr.core.config.uplink import MqttConfig
from nvr.core.errors import StateError
from nvr.core.state import StateStore, now_ms
from nvr.core.timeutil import format_ms
from nvr.uplink.commands.base import Context
from nvr.uplink.commands.constants import (
    CLIENT_ID,
    KEEPALIVE_SECONDS,
    MAX_QUEUED_MESSAGES,
    OFFLINE,
    ONLINE,
    ORIGIN_MQTT,
    QOS,
    RECONNECT_MAX_SECONDS,
    RECONNECT_MIN_SECONDS,
    SERVICE_NAME,
    STOP_PUBLISH_SECONDS,
    TOPIC_CAMERA,
    TOPIC_CONTROL,
    TOPIC_ONLINE,
    TOPIC_RESULT,
    TOPIC_STATE,
)
from nvr.uplink.commands.runner import CommandRunner
from nvr.uplink.commands.status import read_status
from nvr.uplink.errors import UplinkError
from nvr.uplink.hse_topics import HseTopics

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Topics:
    """The topics of one site."""

    site: str

    @property
    def online(self) -> str:
        """Retained online/offline, with the last will."""
        return TOPIC_ONLINE.format(site=self.site)

    @property
    def state(self) -> str:
        """Retained status JSON."""
        return TOPIC_STATE.format(site=self.site)

    def camera(self, camera: str) -> str:
        """Retained status of one camera."""
        return TOPIC_CAMERA.format(site=self.site, camera=camera)

    @property
    def control(self) -> str:
        """Commands from the centre."""
        return TOPIC_CONTROL.format(site=self.site)

    @property
    def result(self) -> str:
        """Answers to commands."""
        return TOPIC_RESULT.format(site=self.site)


def _json(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()


class MqttLink:
    """The paho client: identity, credentials, last will, presence, the control topic."""

    def __init__(
        self,
        settings: MqttConfig,
        site_id: str,
        on_command: Callable[[bytes], None],
        on_connected: Callable[[], None],
    ) -> None:
        self.settings = settings
        self.site_id = site_id
        self.topics = Topics(site_id)
        self._on_command = on_command
        self._on_connected = on_connected
        self._lock = threading.Lock()
        self._stopping = False
        self.connected = False
        self.state_text = "MQTT connecting"
        self._client = self._build_client()

    def _build_client(self) -> mqtt.Client:
        settings = self.settings
        # A persistent session: QoS 1 commands sent while the box was briefly away are
        # delivered when it is back (and refused if they became too old meanwhile).
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.id,
            clean_session=False,
        )
        if settings.username is not None:
            password = settings.password.reveal() if settings.password is not None else None
            client.username_pw_set(settings.username, password)
        if settings.tls:
            ca_file = str(settings.ca_file) if settings.ca_file is not None else None
            try:
                client.tls_set(ca_certs=ca_file)
            except (OSError, ssl.SSLError) as err:
                raise UplinkError(f"uplink.mqtt.ca_file {ca_file}: cannot load: {err}") from err
        offline = {"site_id": self.site_id, "state": OFFLINE}
        client.will_set(self.topics.online, _json(offline), qos=QOS, retain=True)
        client.reconnect_delay_set(RECONNECT_MIN_SECONDS, RECONNECT_MAX_SECONDS)
        client.max_queued_messages_set(MAX_QUEUED_MESSAGES)
        client.on_connect = self._connected
        client.on_connect_fail = self._connect_failed
        client.on_disconnect = self._disconnected
        client.on_message = self._message
        return client

    # -- lifecycle -----------------------------------------------------------------------
    def start(self) -> None:
        """Connect in paho's thread; a broker that is down is retried there with back-off."""
        log.info("MQTT: connecting to %s:%d as %s", self.settings.host, self.settings.port, self.id)
        self._client.connect_async(self.settings.host, self.settings.port, KEEPALIVE_SECONDS)
        self._client.loop_start()

    @property
    def id(self) -> str:
        """The client id."""
        return CLIENT_ID.format(site=self.site_id)

    def stop(self) -> None:
        """Say `offline` (retained) if connected, then disconnect: the will is not sent."""
        self._stopping = True
        if self.connected:
            offline = {"site_id": self.site_id, "state": OFFLINE, "at": format_ms(now_ms())}
            info = self.publish(self.topics.online, offline, retain=True)
            try:
                info.wait_for_publish(STOP_PUBLISH_SECONDS)
            except (RuntimeError, ValueError) as err:
                log.warning("MQTT: offline status not sent: %s", err)
        self._client.disconnect()
        self._client.loop_stop()
        self._set_state(False, "MQTT stopped")

    def publish(self, topic: str, payload: dict[str, Any], *, retain: bool) -> mqtt.MQTTMessageInfo:
        """Publish JSON with QoS 1; paho queues it while the broker is away."""
        info = self._client.publish(topic, _json(payload), qos=QOS, retain=retain)
        if info.rc == mqtt.MQTT_ERR_QUEUE_SIZE:
            log.warning(
                "MQTT: %d messages queued already; dropped one for %s", MAX_QUEUED_MESSAGES, topic
            )
        return info

    # -- paho callbacks (paho's network thread: quick, no state file) --------------------
    def _connected(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.ConnectFlags,
        reason: ReasonCode,
        properties: Any,
    ) -> None:
        if reason.is_failure:
            self._set_state(False, f"MQTT disconnected: {reason}, reconnecting")
            return
        online = {
            "site_id": self.site_id,
            "state": ONLINE,
            "since": format_ms(now_ms()),
            "version": __version__,
        }
        self.publish(self.topics.online, online, retain=True)
        client.subscribe(self.topics.control, qos=QOS)
        self._set_state(True, "MQTT connected")
        self._on_connected()

    def _connect_failed(self, client: mqtt.Client, userdata: Any) -> None:
        where = f"{self.settings.host}:{self.settings.port}"
        self._set_state(False, f"MQTT disconnected: cannot connect to {where}, reconnecting")

    def _disconnected(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.DisconnectFlags,
        reason: ReasonCode,
        properties: Any,
    ) -> None:
        if self._stopping or not self.connected:
            return  # a refused CONNACK was already said, with the broker's reason
        # paho says "Unspecified error" for a dropped socket; only a broker's DISCONNECT
        # packet carries a reason worth showing.
        if flags.is_disconnect_packet_from_server:
            why = f"broker said {reason}"
        else:
            why = f"connection to {self.settings.host}:{self.settings.port} lost"
        self._set_state(False, f"MQTT disconnected: {why}, reconnecting")

    def _message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        if message.topic == self.topics.control:
            self._on_command(bytes(message.payload))

    def _set_state(self, connected: bool, text: str) -> None:
        """Remember the state; log it once per change (a flapping broker is not a log flood)."""
        with self._lock:
            changed = text != self.state_text
            self.connected = connected
            self.state_text = text
        if changed:
            log.log(logging.INFO if connected else logging.WARNING, "%s", text)


class MqttService:
    """MQTT presence and status, and the commands that arrive over it (a Service)."""

    name = SERVICE_NAME

    def __init__(self, config: Config, settings: MqttConfig) -> None:
        self.config = config
        self.stop_event = threading.Event()
        self._refresh = threading.Event()
        self.runner = CommandRunner(Context(config), self._publish_result)
        self.problem: str | None = None
        self.link: MqttLink | None = None
        try:
            self.link = MqttLink(
                settings,
                config.site.id,
                lambda payload: self.runner.submit(payload, ORIGIN_MQTT),
                self._refresh.set,
            )
        except UplinkError as err:
            # Reports to head office and recording go on; the status line says what is wrong.
            self.problem = str(err)
        self._status_thread = threading.Thread(
            target=self._status_loop, name="uplink-mqtt-status", daemon=True
        )
        # alarm/<site> and recording/<site>, the HSE backend's topics (docs/design/hse.md).
        self.hse_topics = (
            HseTopics(config, self.link, settings.status_interval_seconds) if self.link else None
        )

    def start(self) -> None:
        """Connect, start the command runner and the status publisher."""
        if self.link is None:
            log.error("MQTT not started: %s", self.problem)
            return
        self.link.start()
        self.runner.start()
        self._status_thread.start()
        if self.hse_topics is not None:
            self.hse_topics.start()

    def stop(self, timeout: float) -> None:
        """Finish the current command step, then say offline and disconnect."""
        if self.link is None:
            return
        self.stop_event.set()
        self._refresh.set()
        self.runner.stop(timeout)
        self._status_thread.join(timeout)
        if self.hse_topics is not None:
            self.hse_topics.stop()
        self.link.stop()

    def status_text(self) -> str:
        """`MQTT connected`, `MQTT disconnected: <reason>, reconnecting`, + running commands."""
        if self.link is None:
            return f"MQTT not started: {self.problem}"
        text = self.link.state_text
        running = self.runner.active
        if running:
            text += f" ({running} command{'s' if running > 1 else ''} running)"
        return text

    def detail(self) -> dict[str, Any]:
        """Connection state and command counts for the heartbeat."""
        return {
            "connected": self.link is not None and self.link.connected,
            "state": self.status_text(),
            "commands": dict(self.runner.counts),
            "commands_running": self.runner.active,
        }

    def _publish_result(self, message: dict[str, Any]) -> None:
        if self.link is not None:
            self.link.publish(self.link.topics.result, message, retain=False)

    # -- status publisher ----------------------------------------------------------------
    def _status_loop(self) -> None:
        interval = self.link.settings.status_interval_seconds if self.link else 0.0
        with StateStore.open(self.config.storage.state_file) as store:
            while not self.stop_event.is_set():
                # Woken early by a (re)connect: the broker may have lost the retained topics.
                self._refresh.wait(interval)
                self._refresh.clear()
                if self.stop_event.is_set():
                    break
                try:
                    self._publish_status(store)
                except StateError as err:
                    log.warning("MQTT: status not published: %s", err)

    def _publish_status(self, store: StateStore) -> None:
        link = self.link
        if link is None or not link.connected:
            return  # stale statuses are not queued: a fresh one goes out on reconnect
        status = read_status(store.read(), self.config, now_ms())
        link.publish(link.topics.state, status.site, retain=True)
        for camera, body in status.cameras.items():
            link.publish(link.topics.camera(camera), body, retain=True)
