"""The HSE backend's MQTT topics besides `status/...`: `alarm/<site>` and `recording/<site>`.

- `alarm/<site>`: each alarm message of `hse_alarms` (the JSON nvr-hse sends on its
  WebSocket, with its `id`), QoS 1, not retained (an alarm is an event, not a state). The
  position is saved in `hse_cursors` (`mqtt`), so alarms raised while the broker or
  nvr-uplink was away go out when both are back, in order.
- `recording/<site>`: retained, each camera's recording state, on every change and every
  `uplink.mqtt.status_interval_seconds`.
See docs/design/hse.md.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Protocol

from nvr.core import alarms
from nvr.core.config import Config
from nvr.core.errors import StateError
from nvr.core.state import StateStore, now_ms
from nvr.core.timeutil import format_ms
from nvr.uplink.mqtt.commands.status import read_status

log = logging.getLogger(__name__)

TOPIC_ALARM = "alarm/{site}"
TOPIC_RECORDING = "recording/{site}"
POLL_SECONDS = 1.0
BATCH = 100
JOIN_SECONDS = 5.0


class Publisher(Protocol):
    """What this needs of the MQTT link."""

    connected: bool

    def publish(self, topic: str, payload: dict[str, Any], *, retain: bool) -> Any:
        """Publish JSON with QoS 1."""
        ...


class HseTopics:
    """A thread publishing alarms and recording states while the link is connected."""

    def __init__(self, config: Config, link: Publisher, interval_seconds: float) -> None:
        self.config = config
        self._link = link
        self._interval = interval_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="uplink-mqtt-hse", daemon=True)
        self._last_states: dict[str, str] | None = None
        self._last_recording_at = 0.0
        self.published = 0

    def start(self) -> None:
        """Start publishing."""
        self._thread.start()

    def stop(self) -> None:
        """Stop after the current pass."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(JOIN_SECONDS)

    def _run(self) -> None:
        with StateStore.open(self.config.storage.state_file) as store:
            while not self._stop.wait(POLL_SECONDS):
                if not self._link.connected:
                    # Nothing is lost: the cursor waits for the broker. A new broker may
                    # have lost the retained recording states: publish them again.
                    self._last_states = None
                    continue
                try:
                    self._publish_alarms(store)
                    self._publish_recording(store)
                except StateError as err:
                    log.warning("MQTT: alarm/recording topics not published: %s", err)

    def _publish_alarms(self, store: StateStore) -> None:
        conn = store.read()
        cursor = alarms.read_cursor(conn, alarms.MQTT_CURSOR)
        if cursor is None:
            # First start: alarms from now on (the WebSocket replays the older ones).
            with store.write() as wconn:
                alarms.save_cursor(wconn, alarms.MQTT_CURSOR, alarms.last_message_id(wconn))
            return
        messages = alarms.messages_after(conn, cursor, 0, BATCH)
        if not messages:
            return
        topic = TOPIC_ALARM.format(site=self.config.site.id)
        for message in messages:
            self._link.publish(topic, message, retain=False)
        self.published += len(messages)
        with store.write() as wconn:
            alarms.save_cursor(wconn, alarms.MQTT_CURSOR, int(messages[-1]["id"]))

    def _publish_recording(self, store: StateStore) -> None:
        """Retained recording states, when one changed or the interval is up."""
        at = now_ms()
        cameras = read_status(store.read(), self.config, at).cameras
        states = {
            cam: str(body["recording"].get("state", "unknown")) for cam, body in cameras.items()
        }
        due = time.monotonic() - self._last_recording_at >= self._interval
        if states == self._last_states and not due:
            return
        payload = {
            "site_id": self.config.site.id,
            "at": format_ms(at),
            "cameras": {
                cam: {
                    "name": body["name"],
                    "enabled": body["enabled"],
                    "recording": states[cam] == "recording",
                    "state": body["recording"],
                }
                for cam, body in cameras.items()
            },
        }
        self._link.publish(TOPIC_RECORDING.format(site=self.config.site.id), payload, retain=True)
        self._last_states = states
        self._last_recording_at = time.monotonic()
