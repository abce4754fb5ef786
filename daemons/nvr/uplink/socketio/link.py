"""Socket.IO: the channel of an edge/cloud centre (docs/design/hse-edge.md, "Socket.IO").

The box connects out (no port opened on site) with `edge_id`/`edge_secret` in the
Socket.IO auth payload, and then:
- emits `alert` for each alarm, and again with `clip_path` once the alarm's clip is in
  MinIO; each alert waits for the centre's acknowledgement before the cursor moves past
  it, so an alert is delivered at least once across disconnects and restarts;
- emits `status` on every connect and every `status_interval_seconds` (newest only: a
  status missed while away is not queued);
- takes `command` events into its own command runner (the same signing, idempotency and
  answers as MQTT), answering with `command_result`.
One thread owns the connection and reconnects with back-off and jitter; the client's own
reconnection is off so that there is one loop to reason about. Nothing here runs in
another service's thread: a dead centre delays only this channel.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from typing import Any

import socketio

from nvr.core.alarm_clips import ALARM_CLIP_KIND
from nvr.core.alarms import (
    EVENT_COLUMNS,
    SOCKETIO_CURSOR,
    EventRow,
    alarm_type,
    event_row,
    save_cursor,
)
from nvr.core.backoff import Backoff
from nvr.core.config import Config
from nvr.core.config.edge import SocketIoConfig
from nvr.core.errors import StateError
from nvr.core.redact import redact_text
from nvr.core.state import StateStore, now_ms
from nvr.core.timeutil import format_ms
from nvr.uplink.constants import (
    RETRY_JITTER,
    SOCKETIO,
    SOCKETIO_ACK_SECONDS,
    SOCKETIO_ALERTS_PER_PASS,
    SOCKETIO_CONNECT_SECONDS,
    SOCKETIO_ORIGIN,
    SOCKETIO_RECONNECT_MAX_SECONDS,
    SOCKETIO_RECONNECT_MIN_SECONDS,
    SOCKETIO_TICK_SECONDS,
)
from nvr.uplink.event_cursor import start_after
from nvr.uplink.mqtt.commands.base import Context
from nvr.uplink.mqtt.commands.runner import CommandRunner
from nvr.uplink.mqtt.commands.status import read_status
from nvr.uplink.passes import PassThread

log = logging.getLogger(__name__)

CURSOR = SOCKETIO_CURSOR  # hse_cursors.name
EVENT_ALERT = "alert"
EVENT_STATUS = "status"
EVENT_COMMAND = "command"
EVENT_RESULT = "command_result"
CONNECTED = "Socket.IO connected"


def alerts_after(
    conn: sqlite3.Connection, after_id: int, edge_id: str
) -> list[tuple[int, dict[str, Any]]]:
    """(event id, alert) for the alarms and clip follow-ups after `after_id`.

    Alarms and their `alert_type` are nvr.core.alarms' (the same as the WebSocket's and
    MQTT's). Returns every event read, non-alerts as an empty dict, so the cursor can move
    past them.
    """
    rows = conn.execute(
        f"SELECT {EVENT_COLUMNS} FROM events WHERE id > ? ORDER BY id LIMIT ?",
        (after_id, SOCKETIO_ALERTS_PER_PASS),
    ).fetchall()
    return [(event.id, _alert(event, edge_id)) for event in map(event_row, map(tuple, rows))]


def _alert(event: EventRow, edge_id: str) -> dict[str, Any]:
    """The `alert` of an event (the edge/cloud design's fields and ours); {} for none."""
    base = {
        "edge_id": edge_id,
        "camera_id": event.camera,
        "severity": event.severity,
        "title": event.message,
        "timestamp": format_ms(event.created_at_ms),
    }
    if event.kind == ALARM_CLIP_KIND:
        data = event.data
        return {
            **base,
            "alert_type": ALARM_CLIP_KIND,
            "alarm_event_id": data.get("alarm_event_id"),
            "clip_path": data.get("clip_path"),
            "start_time": data.get("start_time"),
            "end_time": data.get("end_time"),
        }
    kind = alarm_type(event.kind, event.severity, event.data)
    if kind is None:
        return {}
    alert = {**base, "alert_type": kind.name, "alarm_event_id": event.id}
    if kind.clears is not None:
        alert["clears"] = kind.clears
    return alert


class SocketIoService(PassThread):
    """The Socket.IO link to an edge/cloud centre (services.Service)."""

    name = SOCKETIO

    def __init__(self, config: Config, settings: SocketIoConfig) -> None:
        super().__init__("uplink-socketio", config.storage.state_file)
        self.config = config
        self.settings = settings
        self.runner = CommandRunner(Context(config), self._emit_result, SOCKETIO_ORIGIN)
        # handle_sigint: the daemon owns the signals.
        self.client = socketio.Client(reconnection=False, handle_sigint=False)
        self.client.on("connect", self._connected)
        self.client.on("connect_error", self._refused)
        self.client.on("disconnect", self._disconnected)
        self.client.on(EVENT_COMMAND, self._command)
        self._backoff = Backoff(
            SOCKETIO_RECONNECT_MIN_SECONDS, 2.0, SOCKETIO_RECONNECT_MAX_SECONDS, RETRY_JITTER
        )
        self._status_due = True
        self._last_status = float("-inf")
        self.state_text = "Socket.IO connecting"
        self._said = ""
        self._refusal: str | None = None
        self.alerts_sent = 0

    # -- lifecycle -----------------------------------------------------------------------
    def start(self) -> None:
        """Start the connection thread and the command runner."""
        log.info("Socket.IO: connecting to %s as edge %s", self.settings.url, self.settings.edge_id)
        self.runner.start()
        self._thread.start()

    def stop(self, timeout: float) -> None:
        """Finish the current command step, then disconnect."""
        self.stop_event.set()  # before the runner's stop: both threads end meanwhile
        self.runner.stop(timeout)
        super().stop(timeout)
        if self.client.connected:
            self.client.disconnect()

    def _pass(self, store: StateStore) -> float:
        try:
            return self._connect_or_emit(store)
        except StateError as err:
            log.warning("Socket.IO: state file: %s; retrying", err)
        except socketio.exceptions.SocketIOError as err:
            # Not connected any more (an emit raced a disconnect): connect again.
            log.info("Socket.IO: %s", redact_text(str(err)) or type(err).__name__)
        except Exception:
            # A bug must cost a pass, not the channel.
            log.exception("Socket.IO: unexpected error; carrying on")
        return SOCKETIO_TICK_SECONDS

    def _connect_or_emit(self, store: StateStore) -> float:
        """Connect if needed (the wait is the back-off), else deliver alerts and status."""
        if not self.client.connected:
            return self._connect()
        self._emit_alerts(store)
        self._emit_status(store)
        return SOCKETIO_TICK_SECONDS

    def _connect(self) -> float:
        auth = {"edge_id": self.settings.edge_id, "edge_secret": self.settings.edge_secret.reveal()}
        self._refusal = None
        if self.client.eio.state != "disconnected":
            # The client says disconnected before its transport finished closing; connect()
            # now would raise. Wait for the transport.
            return SOCKETIO_TICK_SECONDS
        try:
            self.client.connect(self.settings.url, auth=auth, wait_timeout=SOCKETIO_CONNECT_SECONDS)
        except socketio.exceptions.ConnectionError:
            delay = self._backoff.failed()
            why = self._refusal or f"cannot connect to {self.settings.url}"
            self._set_state(f"Socket.IO disconnected: {why}", f", retry in {delay:.0f}s")
            return delay
        self._backoff.succeeded()
        return 0.0

    # -- client callbacks (the client's threads: quick, no state file) -------------------
    def _connected(self) -> None:
        self._status_due = True  # a centre that reconnects us gets a fresh status at once
        self._set_state(CONNECTED)

    def _refused(self, data: Any = None) -> None:
        # The centre's reason for refusing the connection (bad edge_id/edge_secret, ...)
        # comes as {"message": ...}; a transport failure comes as text and is said as
        # "cannot connect" (its text is a long urllib3 line).
        if isinstance(data, dict) and data.get("message"):
            self._refusal = f"refused by the centre: {redact_text(str(data['message']))[:120]}"

    def _disconnected(self, *reason: Any) -> None:
        if not self.stop_event.is_set():
            self._set_state("Socket.IO disconnected: connection lost, reconnecting")

    def _command(self, data: Any) -> None:
        payload = data.encode() if isinstance(data, str) else json.dumps(data).encode()
        self.runner.submit(payload, SOCKETIO_ORIGIN)

    def _emit_result(self, message: dict[str, Any]) -> None:
        """Answer a command; when disconnected the answer is lost, not the command.

        The centre repeats the id and gets the stored answer again (commands.md,
        invariant 2).
        """
        try:
            self.client.emit(EVENT_RESULT, message)
        except socketio.exceptions.SocketIOError as err:
            log.warning("Socket.IO: result of command %s not sent: %s", message.get("id"), err)

    # -- what goes out -------------------------------------------------------------------
    def _emit_alerts(self, store: StateStore) -> None:
        """Alerts after the cursor, one acknowledged call each; the cursor follows the acks.

        At least once (docs/design/hse-edge.md, invariant 9).
        """
        after = start_after(store.read(), CURSOR, now_ms())
        last = after
        try:
            for event_id, alert in alerts_after(store.read(), after, self.settings.edge_id):
                if self.stop_event.is_set():
                    break
                if alert:
                    self.client.call(EVENT_ALERT, alert, timeout=SOCKETIO_ACK_SECONDS)
                    self.alerts_sent += 1
                    log.info(
                        "Socket.IO: alert event=%d type=%s camera=%s acknowledged",
                        event_id,
                        alert["alert_type"],
                        alert["camera_id"],
                    )
                last = event_id
        except socketio.exceptions.TimeoutError:
            log.warning(
                "Socket.IO: the centre did not acknowledge an alert within %ds; sent again later",
                SOCKETIO_ACK_SECONDS,
            )
        finally:
            if last != after:
                with store.write() as conn:
                    save_cursor(conn, CURSOR, last)

    def _emit_status(self, store: StateStore) -> None:
        now = now_ms()
        interval_ms = self.settings.status_interval_seconds * 1000
        if not self._status_due and now - self._last_status < interval_ms:
            return
        status = read_status(store.read(), self.config, now).site
        self.client.emit(EVENT_STATUS, {"edge_id": self.settings.edge_id, **status})
        self._status_due, self._last_status = False, now

    # -- what the daemon shows -----------------------------------------------------------
    def _set_state(self, text: str, detail: str = "") -> None:
        """Show `text` + `detail` in STATUS; log `text` once per change (not a log flood)."""
        if text != self._said:
            level = logging.INFO if text == CONNECTED else logging.WARNING
            log.log(level, "%s", text)
            self._said = text
        self.state_text = text + detail

    def status_text(self) -> str:
        """`Socket.IO connected` or `Socket.IO disconnected: <reason>, retry in Ns`."""
        return self.state_text

    def detail(self) -> dict[str, Any]:
        """Connection state, alerts sent, command counts."""
        return {
            "connected": bool(self.client.connected),
            "state": self.state_text,
            "alerts_sent": self.alerts_sent,
            "commands": dict(self.runner.counts),
        }
