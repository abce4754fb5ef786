"""nvr-health as a daemon: the WSGI server in a thread, probes on the main loop's tick."""

from __future__ import annotations

import logging
import sqlite3
import threading
from typing import Any

from nvr.core.config import Config
from nvr.core.heartbeats import livestream_in_use
from nvr.core.httpserve import HttpServers, Limits, ServeError, endpoints
from nvr.core.login_journal import FailureJournal
from nvr.core.service import Daemon
from nvr.core.sitehealth import verdict_detail
from nvr.core.state import StateStore, now_ms
from nvr.health.access import Access
from nvr.health.app import create_app
from nvr.health.constants import (
    DAEMON_NAME,
    MAX_REQUEST_BODY_BYTES,
    PROBE_EVERY_TICKS,
    SERVER_THREADS,
)
from nvr.health.errors import HealthError, ListenError
from nvr.health.probes import ProbeBoard
from nvr.health.sources import Sources

log = logging.getLogger(__name__)


class HealthDaemon(Daemon):
    """Serves /health, /metrics and the status page; probes mediamtx and systemd."""

    name = DAEMON_NAME

    def __init__(self, config: Config, store: StateStore, stop_event: threading.Event) -> None:
        super().__init__(config, store, stop_event)
        self.probes = ProbeBoard()
        self.sources = Sources(config, self.probes)
        self._servers: HttpServers | None = None
        self._ticks = 0
        self.address = ""

    def start(self) -> None:
        """Bind health.listen (and tls_listen) and serve from threads (before READY=1)."""
        self._probe()
        servers = HttpServers(
            # Failed logins on the page outlive a restart (security.md, invariant 1).
            create_app(
                self.sources,
                Access(journal=FailureJournal(self.config.storage.state_file, DAEMON_NAME)),
            ),
            endpoints(self.config.health, "health"),
            Limits(SERVER_THREADS, MAX_REQUEST_BODY_BYTES),
        )
        try:
            servers.start()
        except ServeError as err:
            raise ListenError(str(err)) from err
        self._servers = servers
        self.address = servers.urls[0].split("://", 1)[1].rstrip("/")
        log.info("serving /health, /metrics and the status page on %s", " ".join(servers.urls))

    def tick(self) -> None:
        """Refresh the probes every few ticks; requests never wait on them."""
        self._ticks += 1
        if self._ticks % PROBE_EVERY_TICKS == 0:
            self._probe()

    def _probe(self) -> None:
        in_use = livestream_in_use(self.store.read())
        self.probes.refresh(self.config, now_ms(), livestream_in_use=in_use)

    def apply_config(self, new: Config) -> None:
        """New thresholds apply to the next request; health.listen needs a restart."""
        if endpoints(new.health, "health") != endpoints(self.config.health, "health"):
            log.warning("health listen or TLS settings changed: take effect at the next restart")
        self.config = new
        self.sources.config = new
        self._probe()

    def status_line(self) -> str:
        """`serving on 127.0.0.1:8080`."""
        return f"serving on {self.address}" if self.address else "starting"

    def heartbeat_detail(self) -> dict[str, Any]:
        """Where it listens, and the verdict status reports carry to head office."""
        if not self.address:
            # The first beat comes before start(): no probe yet, and the verdict would be
            # cached for the first requests (REPORT_CACHE_SECONDS).
            return {"listen": self.address}
        try:
            _, report, _ = self.sources.report()
        except (sqlite3.Error, HealthError) as err:
            log.debug("no verdict for the heartbeat: %s", err)
            return {"listen": self.address}
        failing = [
            {"name": r.name, "status": str(r.severity), "reason": r.reason}
            for r in report.failing()
        ]
        return {"listen": self.address, **verdict_detail(str(report.overall), failing)}

    def shutdown(self) -> None:
        """Close the server and wait for its thread."""
        if self._servers is not None:
            self._servers.stop()
