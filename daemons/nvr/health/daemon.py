"""nvr-health as a daemon: the WSGI server in a thread, probes on the main loop's tick."""

from __future__ import annotations

import logging
import threading
from typing import Any

# No stubs for waitress; the one call is checked by the daemon test.
from waitress.server import create_server

from nvr.core.config import Config
from nvr.core.service import Daemon
from nvr.core.state import StateStore, now_ms
from nvr.health.app import create_app
from nvr.health.constants import (
    DAEMON_NAME,
    LIVESTREAM_DAEMON,
    PROBE_EVERY_TICKS,
    SERVER_STOP_SECONDS,
    SERVER_THREADS,
)
from nvr.health.errors import ListenError
from nvr.health.probes import ProbeBoard
from nvr.health.sources import Sources

log = logging.getLogger(__name__)


def _split_listen(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    return host.strip("[]"), int(port)


class HealthDaemon(Daemon):
    """Serves /health, /metrics and the status page; probes mediamtx and systemd."""

    name = DAEMON_NAME

    def __init__(self, config: Config, store: StateStore, stop_event: threading.Event) -> None:
        super().__init__(config, store, stop_event)
        self.probes = ProbeBoard()
        self.sources = Sources(config, self.probes)
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._ticks = 0
        self.address = ""

    def start(self) -> None:
        """Bind health.listen and serve from a thread (before READY=1)."""
        self._probe()
        host, port = _split_listen(self.config.health.listen)
        try:
            self._server = create_server(
                create_app(self.sources), host=host, port=port, threads=SERVER_THREADS
            )
        except OSError as err:
            raise ListenError(f"health.listen {self.config.health.listen}: {err}") from err
        self.address = f"{host}:{self._server.effective_port}"
        self._thread = threading.Thread(target=self._server.run, name="waitress", daemon=True)
        self._thread.start()
        log.info("serving /health, /metrics and the status page on http://%s/", self.address)

    def tick(self) -> None:
        """Refresh the probes every few ticks; requests never wait on them."""
        self._ticks += 1
        if self._ticks % PROBE_EVERY_TICKS == 0:
            self._probe()

    def _probe(self) -> None:
        livestream = (
            self.store.read()
            .execute("SELECT 1 FROM heartbeats WHERE daemon = ?", (LIVESTREAM_DAEMON,))
            .fetchone()
        )
        self.probes.refresh(self.config, now_ms(), livestream_in_use=livestream is not None)

    def apply_config(self, new: Config) -> None:
        """New thresholds apply to the next request; health.listen needs a restart."""
        if new.health.listen != self.config.health.listen:
            log.warning("health.listen changed: takes effect at the next restart")
        self.config = new
        self.sources.config = new
        self._probe()

    def status_line(self) -> str:
        """`serving on 127.0.0.1:8080`."""
        return f"serving on {self.address}" if self.address else "starting"

    def heartbeat_detail(self) -> dict[str, Any]:
        """Where it listens."""
        return {"listen": self.address}

    def shutdown(self) -> None:
        """Close the server and wait for its thread."""
        if self._server is not None:
            self._server.close()
        if self._thread is not None:
            self._thread.join(SERVER_STOP_SECONDS)
