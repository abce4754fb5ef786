"""nvr-uplink's heartbeat: a few hundred bytes to the HSE API (and head office) every interval.

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
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nvr.core.config import Config
from nvr.core.errors import StateError
from nvr.core.signing import HEADER_IDEMPOTENCY, HEADER_SITE
from nvr.core.state import StateStore, now_ms
from nvr.core.tables.outbox import DISPLAY_NAME, HEAD_OFFICE, HSE_API
from nvr.uplink.constants import HEARTBEAT
from nvr.uplink.delivery.transport import (
    Outcome,
    Request,
    TlsSettings,
    Transport,
    Verdict,
    signed_headers,
)
from nvr.uplink.mqtt.commands.status import read_status
from nvr.uplink.passes import PassThread

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


@dataclass
class Target:
    """One receiver of heartbeats and how a request to it is authenticated."""

    label: str
    url: str
    transport: Transport
    auth: Callable[[bytes], dict[str, str]]  # headers for a body
    last_ok: float | None = None
    last_error: str | None = None


def heartbeat_targets(config: Config) -> list[Target]:
    """The HSE API (bearer token) and head office (signed like reports), as configured."""
    uplink = config.uplink
    targets: list[Target] = []
    hse = uplink.hse_api
    if hse is not None:
        token = hse.token

        def bearer(body: bytes) -> dict[str, str]:
            return {} if token is None else {"Authorization": f"Bearer {token.reveal()}"}

        targets.append(
            Target(
                DISPLAY_NAME[HSE_API],
                f"{hse.url.rstrip('/')}/boxes/{config.site.id}/heartbeat",
                Transport(hse.timeout_seconds, TlsSettings(hse.verify_tls, hse.ca_file)),
                bearer,
            )
        )
    ho, url = uplink.head_office, uplink.heartbeat.head_office_url
    if ho is not None and url is not None:
        secret, site = ho.secret, config.site.id

        def signed(body: bytes) -> dict[str, str]:
            stamp = str(int(time.time()))
            return {HEADER_SITE: site, **signed_headers(secret, stamp, body)}

        targets.append(
            Target(
                DISPLAY_NAME[HEAD_OFFICE],
                url,
                Transport(ho.timeout_seconds, TlsSettings(ho.verify_tls, ho.ca_file)),
                signed,
            )
        )
    return targets


class HeartbeatService(PassThread):
    """Sends the heartbeat to each target on its own thread (services.Service).

    On stop, a beat in flight ends with its HTTP timeout.
    """

    name = HEARTBEAT

    def __init__(self, config: Config, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__("uplink-heartbeat", config.storage.state_file)
        self.config = config
        self.targets = heartbeat_targets(config)
        self._interval = config.uplink.heartbeat.interval_seconds
        self._clock = clock
        self._beat = 0

    def start(self) -> None:
        """Start beating (the first beat at once)."""
        names = ", ".join(t.label for t in self.targets)
        log.info("heartbeat every %gs to %s", self._interval, names)
        self._thread.start()

    def _pass(self, store: StateStore) -> float:
        started = self._clock()
        try:
            self.send(store)
        except StateError as err:
            log.warning("heartbeat: state file: %s; next beat as usual", err)
        # The period is kept from start to start: a slow answer does not stretch it.
        return max(0.0, self._interval - (self._clock() - started))

    def send(self, store: StateStore) -> None:
        """Build one heartbeat and send it to every target."""
        self._beat += 1
        status = read_status(store.read(), self.config, now_ms()).site
        body = heartbeat_body(status, self.config.site.id, self._beat, self._interval)
        headers = {
            "Content-Type": "application/json",
            HEADER_IDEMPOTENCY: f"heartbeat-{self.config.site.id}-{status['at']}",
        }
        for target in self.targets:
            request = Request("POST", target.url, body, {**headers, **target.auth(body)})
            self._note(target, target.transport.send(request))

    def _note(self, target: Target, outcome: Outcome) -> None:
        """Remember the outcome; log a failure once, and the recovery."""
        if outcome.verdict is Verdict.DELIVERED:
            if target.last_error is not None:
                log.info("heartbeat: %s takes heartbeats again", target.label)
            target.last_ok, target.last_error = self._clock(), None
            return
        if target.last_error is None:
            log.warning("heartbeat: %s did not take it: %s", target.label, outcome.detail)
        target.last_error = outcome.detail

    def status_text(self) -> str:
        """E.g. `heartbeat ok` or `heartbeat to HSE failing: cannot connect: ...`."""
        failing = [f"{t.label} failing: {t.last_error}" for t in self.targets if t.last_error]
        return "heartbeat " + ("; ".join(failing) if failing else "ok")

    def detail(self) -> dict[str, Any]:
        """Beats sent; per target the age of the last one taken and the last error."""
        now = self._clock()
        return {
            "beats": self._beat,
            "interval_seconds": self._interval,
            "targets": {
                t.label: {
                    "last_ok_age_seconds": None if t.last_ok is None else round(now - t.last_ok, 1),
                    "last_error": t.last_error,
                }
                for t in self.targets
            },
        }
