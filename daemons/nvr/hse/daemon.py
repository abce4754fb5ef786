"""nvr-hse as a daemon: the server in a thread, the alarm feed on the main loop's tick."""

from __future__ import annotations

import logging
import threading
from typing import Any

from nvr.core.config import Config
from nvr.core.config.hse import HseConfig
from nvr.core.errors import ConfigError
from nvr.core.service import Daemon
from nvr.core.state import StateStore, now_ms
from nvr.core.viewer_urls import hse_urls
from nvr.hse.constants import DAEMON_NAME, PRUNE_EVERY_TICKS
from nvr.hse.feed import AlarmFeed
from nvr.hse.retention import prune
from nvr.hse.server import HseServer

log = logging.getLogger(__name__)


class HseDaemon(Daemon):
    """Serves the HSE backend's interface; turns events into alarm messages."""

    name = DAEMON_NAME

    def __init__(self, config: Config, store: StateStore, stop_event: threading.Event) -> None:
        super().__init__(config, store, stop_event)
        self.feed = AlarmFeed(config, store)
        self._server: HseServer | None = None
        self._ticks = 0

    def start(self) -> None:
        """Bind hse.listen before READY=1 (a taken port fails the start in one line)."""
        if self.config.hse is None:
            log.warning("no hse section in the config: nothing to serve")
            return
        self._server = HseServer(self.config)
        self._server.start()
        log.info("serving the HSE API, /alarm/ and ingest on %s", self._server.address)
        self._say_registry_urls(self.config.hse)

    def _say_registry_urls(self, section: HseConfig) -> None:
        """What the centre's ai_boxes row needs (GET /api/health answers it too)."""
        try:
            urls = hse_urls(self.config, section)
        except ConfigError as err:
            log.warning("the URLs to register this box by are unknown: %s", err)
            return
        log.info(
            "register this box at the centre with api_url=%s alarm_ws_url=%s webrtc_url=%s",
            urls["api_url"],
            urls["alarm_ws_url"],
            urls["webrtc_url"],
        )

    def tick(self) -> None:
        """Turn new events into alarm messages; now and then prune old pictures."""
        if self._server is None:
            return
        self.feed.run_once()
        if self._ticks % PRUNE_EVERY_TICKS == 0:  # at start, then every 10 minutes
            self._prune()
        self._ticks += 1

    def _prune(self) -> None:
        pruned = prune(self.store, self.config, now_ms())
        if pruned.messages or pruned.posted or pruned.pictures:
            log.info(
                "retention: deleted %d delivered alarm messages, %d posted events and %d"
                " alarm pictures",
                pruned.messages,
                pruned.posted,
                pruned.pictures,
            )

    def apply_config(self, new: Config) -> None:
        """Cameras and tokens apply to the next request; a new listen needs a restart."""
        if _served(self.config) != _served(new):
            log.warning("hse.listen, tls_listen or the TLS pair changed: takes effect at the"
                        " next restart")  # fmt: skip
        if self._server is not None and new.hse is not None:
            self._server.config = new
        self.config = new
        self.feed.config = new

    def status_line(self) -> str:
        """`serving on 0.0.0.0:2323; 2 centre connections; 14 alarms sent`."""
        if self._server is None:
            return "idle: no hse section in the config"
        clients = self._server.clients
        return (
            f"serving on {self._server.address}; {clients} alarm connection"
            f"{'' if clients == 1 else 's'}; {self.feed.sent} alarms queued"
        )

    def heartbeat_detail(self) -> dict[str, Any]:
        """Where it listens and how many sockets are open."""
        if self._server is None:
            return {}
        return {"listen": self._server.address, "clients": self._server.clients}

    def shutdown(self) -> None:
        """Close the sockets and the listener."""
        if self._server is not None:
            self._server.stop()


def _served(config: Config) -> tuple[object, ...] | None:
    """What the listeners were bound with: a change needs a restart."""
    section = config.hse
    if section is None:
        return None
    return (section.listen, section.tls_listen, section.tls_cert_file, section.tls_key_file)
