"""nvr-uplink: one delivery thread per destination; the main loop looks after the outbox.

The main loop keeps the outbox within its bound, prunes delivered rows and reports the
backlog.

See docs/design/outbox.md.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from nvr.core.config import Config
from nvr.core.service import Daemon
from nvr.core.state import StateStore
from nvr.core.tables.events import Severity, record_event
from nvr.core.tables.outbox import DISPLAY_NAME, Backlog, backlog
from nvr.uplink.constants import (
    EVENT_SOURCE,
    MAINTENANCE_SECONDS,
    OVERFLOW_EVENT_KIND,
    WORKER_JOIN_SECONDS,
)
from nvr.uplink.delivery.adapters import Adapter, HeadOfficeAdapter, HseAdapter
from nvr.uplink.delivery.pending import enforce_bound, prune
from nvr.uplink.delivery.transport import TlsSettings, Transport
from nvr.uplink.delivery.worker import DestinationWorker, RetryPolicy
from nvr.uplink.services import Service, build_services

log = logging.getLogger(__name__)


def build_workers(config: Config) -> list[DestinationWorker]:
    """A worker per configured destination (head office first)."""
    uplink = config.uplink
    policy = RetryPolicy(
        initial=uplink.retry_initial_seconds,
        maximum=uplink.retry_max_seconds,
        circuit_failures=uplink.circuit_failures,
        circuit_open_seconds=uplink.circuit_open_seconds,
    )
    pairs: list[tuple[Adapter, Any]] = []
    if uplink.head_office is not None:
        ho = uplink.head_office
        pairs.append(
            (HeadOfficeAdapter(ho.url, config.site.id, ho.secret, uplink.batch_max_reports), ho)
        )
    if uplink.hse_api is not None:
        pairs.append(
            (HseAdapter(uplink.hse_api.url, config.site.id, uplink.hse_api.token), uplink.hse_api)
        )
    workers = []
    for adapter, dest in pairs:
        transport = Transport(dest.timeout_seconds, TlsSettings(dest.verify_tls, dest.ca_file))
        workers.append(DestinationWorker(adapter, transport, config.storage.state_file, policy))
    return workers


class UplinkDaemon(Daemon):
    """Delivers reports to every configured destination."""

    name = "nvr-uplink"
    tick_seconds = 1.0

    def __init__(self, config: Config, store: StateStore, stop_event: threading.Event) -> None:
        super().__init__(config, store, stop_event)
        self.workers: list[DestinationWorker] = []
        self.services: list[Service] = []
        self._backlogs: dict[str, Backlog] = {}
        self._last_maintenance = float("-inf")

    def start(self) -> None:
        """Start a delivery thread per destination."""
        self.workers = build_workers(self.config)
        for worker in self.workers:
            log.info("destination=%s: delivering to %s", worker.label, worker.adapter.name)
            worker.start()
        self.services = build_services(self.config)
        for service in self.services:
            log.info("starting %s", service.name)
            service.start()
        if not self.workers and not self.services:
            log.warning("no destination configured (uplink.head_office, hse_api, minio, mqtt)")
        self._maintain()

    def tick(self) -> None:
        """Maintain the outbox now and then; refresh the backlog figures."""
        if time.monotonic() - self._last_maintenance >= MAINTENANCE_SECONDS:
            self._maintain()
        conn = self.store.read()
        self._backlogs = {w.adapter.name: backlog(conn, w.adapter.name) for w in self.workers}

    def _maintain(self) -> None:
        self._last_maintenance = time.monotonic()
        prune(self.store, [w.adapter.name for w in self.workers])
        uplink = self.config.uplink
        overflow = enforce_bound(
            self.store, self.config.site.id, uplink.outbox_max_rows, uplink.outbox_max_mb << 20
        )
        if overflow is not None:
            record_event(
                self.store,
                source=EVENT_SOURCE,
                severity=Severity.WARNING,
                kind=OVERFLOW_EVENT_KIND,
                message=overflow.message(),
                data={"dropped": overflow.rows, "by_kind": overflow.by_kind},
            )

    def apply_config(self, new: Config) -> None:
        """Restart the delivery threads when destinations or their settings changed."""
        changed = new.uplink != self.config.uplink or new.site != self.config.site
        # The MinIO and MQTT services also work per camera (offsite_copy, per-camera
        # topics, the cameras a command may name): a camera change restarts them too.
        changed = changed or (new.cameras != self.config.cameras and bool(self.services))
        self.config = new
        if changed:
            log.info("uplink settings changed; restarting delivery threads")
            self._stop_workers()
            self.start()

    def shutdown(self) -> None:
        """Stop the delivery threads."""
        self._stop_workers()

    def _stop_workers(self) -> None:
        for worker in self.workers:
            worker.stop_event.set()
        for worker in self.workers:
            worker.stop(WORKER_JOIN_SECONDS)
        for service in reversed(self.services):
            service.stop(WORKER_JOIN_SECONDS)
        self.services = []

    def status_line(self) -> str:
        """E.g. `head office ok (backlog 0); HSE circuit open, retry in 41s (backlog 213)`."""
        parts = [self._describe(w) for w in self.workers]
        parts += [service.status_text() for service in self.services]
        return "; ".join(parts) if parts else "no destination configured"

    def _describe(self, worker: DestinationWorker) -> str:
        snap = worker.snapshot()
        pending = self._backlogs.get(worker.adapter.name)
        count = pending.pending if pending else 0
        text = f"{worker.label} {snap['health']}"
        if snap["health"] != "ok" and snap["retry_in_s"] > 0:
            text += f", retry in {snap['retry_in_s']:.0f}s"
        text += f" (backlog {count})"
        if pending and pending.dead_letters:
            text += f", {pending.dead_letters} dead"
        return text

    def heartbeat_detail(self) -> dict[str, Any]:
        """Per destination: backlog, health, last error (never a credential)."""
        detail: dict[str, Any] = {}
        for worker in self.workers:
            pending = self._backlogs.get(worker.adapter.name)
            detail[worker.adapter.name] = {
                **worker.snapshot(),
                "backlog": pending.pending if pending else 0,
                "dead_letters": pending.dead_letters if pending else 0,
                "oldest_pending_ms": pending.oldest_created_at_ms if pending else None,
            }
        services = {service.name: service.detail() for service in self.services}
        return {"destinations": detail, "labels": DISPLAY_NAME, "services": services}
