"""nvr-uplink's heartbeat: a few hundred bytes to the HSE API every `uplink.heartbeat` interval.

The centre marks a box offline after 120 s without one (the edge/cloud design's
EDGE_TIMEOUT_SECONDS); the 15-minute status report cannot say "alive" that often, and a
report waits behind the outbox's backlog. So the heartbeat is no report: it is built when
it is sent, never queued (a failed one is replaced by the next, only the newest matters),
and rides its own thread and HTTP session, so neither a backlog nor a slow MinIO or MQTT
delays it. See docs/design/hse-edge.md, "Heartbeat" and invariant 7.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from nvr.core.config import Config
from nvr.core.errors import StateError
from nvr.core.signing import HEADER_IDEMPOTENCY
from nvr.core.state import StateStore, now_ms
from nvr.core.timeutil import format_ms
from nvr.uplink.commands.status import read_status
from nvr.uplink.constants import HEARTBEAT
from nvr.uplink.transport import Request, TlsSettings, Transport, Verdict

log = logging.getLogger(__name__)


def heartbeat_body(status: dict[str, Any], site_id: str, beat: int, interval_s: float) -> bytes:
    """The heartbeat: alive, when, and the handful of figures a dashboard shows."""
    disk = status.get("disk") or {}
    uplink = status.get("uplink") or {}
    body = {
        "box_id": site_id,
        "online": True,
        "last_seen": status["at"],
        "beat": beat,
        "interval_seconds": interval_s,
        "cameras": status["cameras"],
        "disk_percent": disk.get("percent"),
        "backlog": sum(v["pending"] for v in uplink.values() if isinstance(v, dict)),
        "uploads_pending": uplink.get("uploads_pending", 0),
    }
    return json.dumps(body, separators=(",", ":")).encode()


class HeartbeatService:
    """Sends the heartbeat on its own thread (services.Service)."""

    name = HEARTBEAT

    def __init__(self, config: Config, clock: Callable[[], float] = time.monotonic) -> None:
        hse = config.uplink.hse_api
        if hse is None:
            raise ValueError("the heartbeat needs uplink.hse_api")
        self.config = config
        self._url = f"{hse.url.rstrip('/')}/boxes/{config.site.id}/heartbeat"
        self._token = hse.token
        self._transport = Transport(hse.timeout_seconds, TlsSettings(hse.verify_tls, hse.ca_file))
        self._interval = config.uplink.heartbeat.interval_seconds
        self._clock = clock
        self.stop_event = threading.Event()
        self._beat = 0
        self._last_ok: float | None = None
        self._last_error: str | None = None
        self._thread = threading.Thread(target=self._run, name="uplink-heartbeat", daemon=True)

    def start(self) -> None:
        """Start beating (the first beat at once)."""
        log.info("heartbeat every %gs to the HSE API", self._interval)
        self._thread.start()

    def stop(self, timeout: float) -> None:
        """Stop; a beat in flight ends with its HTTP timeout."""
        self.stop_event.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        with StateStore.open(self.config.storage.state_file) as store:
            while not self.stop_event.is_set():
                started = self._clock()
                try:
                    self.send(store)
                except StateError as err:
                    log.warning("heartbeat: state file: %s; next beat as usual", err)
                # The period is kept from start to start: a slow answer does not stretch it.
                self.stop_event.wait(max(0.0, self._interval - (self._clock() - started)))

    def send(self, store: StateStore) -> bool:
        """Build and send one heartbeat; True when the HSE API took it."""
        self._beat += 1
        status = read_status(store.read(), self.config, now_ms()).site
        body = heartbeat_body(status, self.config.site.id, self._beat, self._interval)
        headers = {
            "Content-Type": "application/json",
            HEADER_IDEMPOTENCY: f"heartbeat-{self.config.site.id}-{status['at']}",
        }
        if self._token is not None:
            headers["Authorization"] = f"Bearer {self._token.reveal()}"
        outcome = self._transport.send(Request("POST", self._url, body, headers))
        if outcome.verdict is Verdict.DELIVERED:
            if self._last_error is not None:
                log.info("heartbeat: the HSE API takes heartbeats again")
            self._last_ok, self._last_error = self._clock(), None
            return True
        if self._last_error is None:  # said once until it changes back
            log.warning("heartbeat: the HSE API did not take it: %s", outcome.detail)
        self._last_error = outcome.detail
        return False

    def status_text(self) -> str:
        """E.g. `heartbeat ok` or `heartbeat failing: cannot connect: ...`."""
        return (
            "heartbeat ok" if self._last_error is None else f"heartbeat failing: {self._last_error}"
        )

    def detail(self) -> dict[str, Any]:
        """Beats sent, age of the last one taken, the last error."""
        age = None if self._last_ok is None else round(self._clock() - self._last_ok, 1)
        return {
            "beats": self._beat,
            "last_ok_age_seconds": age,
            "last_error": self._last_error,
            "interval_seconds": self._interval,
            "at": format_ms(now_ms()),
        }
