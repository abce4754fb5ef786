"""nvr-livestream: mediamtx's paths follow the cameras; the viewer API; the auth callback.

Each tick polls mediamtx's live state; a full reconcile runs at start, on SIGHUP, every
`livestream.reconcile_seconds`, and at once when mediamtx answers again after an outage
(a restarted mediamtx has forgotten the paths we added). See docs/design/livestream.md.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from nvr.core.config import Config
from nvr.core.httpserve import HttpServers, Limits, ServeError, endpoints
from nvr.core.login_journal import FailureJournal
from nvr.core.logins import LoginThrottle
from nvr.core.service import Daemon, Lifecycle
from nvr.core.state import StateStore
from nvr.core.viewer_urls import public_host, viewer_tls
from nvr.livestream.api import Shared, create_app
from nvr.livestream.auth import Gatekeeper
from nvr.livestream.constants import (
    MAX_REQUEST_BODY_BYTES,
    TESTED_MEDIAMTX_VERSION,
    TICK_SECONDS,
    WSGI_THREADS,
)
from nvr.livestream.errors import LivestreamError, MediamtxUnreachable
from nvr.livestream.live import BitrateMeter, LiveSnapshot
from nvr.livestream.mediamtx import ApiCredentials, MediamtxClient
from nvr.livestream.mediamtx_tls import TLS_KEYS, served_tls
from nvr.livestream.sync import reconcile

log = logging.getLogger(__name__)


class LivestreamDaemon(Daemon):
    """Keeps mediamtx in step with the config and serves viewers."""

    name = "nvr-livestream"
    tick_seconds = TICK_SECONDS

    def __init__(self, config: Config, store: StateStore, stop_event: threading.Event) -> None:
        super().__init__(config, store, stop_event)
        self._clock: Callable[[], float] = time.monotonic
        # Failed logins outlive a restart (security.md, invariant 1): kept in the state file.
        journal = FailureJournal(config.storage.state_file, self.name)
        self._throttle = LoginThrottle(self._clock, journal=journal)
        # One set per process: the callback asks mediamtx's API callers for exactly these.
        self._api = ApiCredentials.for_config(config.livestream)
        self._client = MediamtxClient(config.livestream.mediamtx_api, self._api)
        self._meter = BitrateMeter()
        self._shared = Shared(config, self._gatekeeper(config), LiveSnapshot())
        self._web = HttpServers(
            create_app(lambda: self._shared),
            endpoints(config.livestream, "livestream"),
            Limits(WSGI_THREADS, MAX_REQUEST_BODY_BYTES),
        )
        self._down_reason: str | None = None
        self._sync_problem: str | None = None
        self._reconcile_due = True
        self._last_reconcile = float("-inf")
        self._reconciles = 0
        self._version: str | None = None

    def _gatekeeper(self, config: Config) -> Gatekeeper:
        for viewer in config.livestream.viewers:
            if not viewer.cameras:
                log.warning(
                    "viewer user=%s has no `cameras`: it sees nothing (write `cameras: all`"
                    " to grant every camera)",
                    viewer.user,
                )
        cameras = frozenset(camera.id for camera in config.enabled_cameras)
        return Gatekeeper(config.livestream, cameras, self._clock, self._throttle, self._api)

    # -- lifecycle ---------------------------------------------------------------------
    def start(self) -> None:
        """Serve the API and auth callback first: mediamtx asks it even for its own API."""
        log.info("viewer URLs name host %s", public_host(self.config))  # refuses when none
        try:
            self._web.start()
        except ServeError as err:
            raise LivestreamError(str(err)) from err
        log.info("viewer API and auth callback listening on %s", " ".join(self._web.urls))
        self.tick()

    def tick(self) -> None:
        """Poll the live state; reconcile when due, after a reload or after an outage."""
        if not self._poll():
            return
        now = self._clock()
        if now - self._last_reconcile >= self.config.livestream.reconcile_seconds:
            self._reconcile_due = True
        if self._reconcile_due:
            self._reconcile(now)

    def apply_config(self, new: Config) -> None:
        """Swap the config and the permissions, then reconcile on the next tick."""
        if endpoints(new.livestream, "livestream") != endpoints(
            self.config.livestream, "livestream"
        ):
            log.warning(
                "livestream listen or TLS settings changed: take effect at the next restart"
            )
        if new.livestream.mediamtx_api != self.config.livestream.mediamtx_api:
            self._client.close()
            self._client = MediamtxClient(new.livestream.mediamtx_api, self._api)
            self._version = None
        self.config = new
        self._shared = Shared(new, self._gatekeeper(new), self._shared.live)
        self._reconcile_due = True

    def shutdown(self) -> None:
        """Stop serving; mediamtx keeps its paths (viewers keep watching meanwhile)."""
        self._web.stop()
        self._client.close()

    # -- steps ---------------------------------------------------------------------------
    def _poll(self) -> bool:
        """Read the live state; False (and say so once) while mediamtx does not answer."""
        try:
            self._check_version()
            live = self._client.live_paths()
        except LivestreamError as err:
            self._mark_down(str(err))
            return False
        if self._down_reason is not None:
            log.info("mediamtx answers at %s; reconciling its paths", self._client.base_url)
            self._down_reason = None
            self._reconcile_due = True
        if any(camera.id not in live for camera in self.config.enabled_cameras):
            # A path we added is gone: mediamtx restarted or reloaded its file in between.
            self._reconcile_due = True
        self._shared = Shared(
            self._shared.config, self._shared.gatekeeper, self._meter.snapshot(live, self._clock())
        )
        return True

    def _check_version(self) -> None:
        if self._version is not None:
            return
        self._version = self._client.version()
        if self._version != TESTED_MEDIAMTX_VERSION:
            log.warning(
                "mediamtx %s: tested with %s only; path settings may be refused",
                self._version,
                TESTED_MEDIAMTX_VERSION,
            )
        self._check_tls()

    def _check_tls(self) -> None:
        """Say once per mediamtx start when its TLS is not what our URLs promise.

        mediamtx's TLS is rendered into its config when it starts (mediamtx_tls.py): a
        changed `media_tls`, or a mediamtx started without its unit, needs a restart.
        """
        served = served_tls(self._client.global_settings(TLS_KEYS))
        wanted = viewer_tls(self.config.livestream)
        if served != wanted:
            log.warning(
                "mediamtx serves viewers %s but livestream.media_tls makes URLs %s: restart"
                " mediamtx (its unit renders TLS from nvr.yaml at start)",
                "over TLS" if served else "without TLS",
                "https/rtsps" if wanted else "http/rtsp",
            )

    def _mark_down(self, reason: str) -> None:
        if self._down_reason is None:
            log.warning("%s: mediamtx down or restarting; retrying every tick", reason)
        self._down_reason = reason
        self._version = None  # a restarted mediamtx may be another version
        self._shared = Shared(self._shared.config, self._shared.gatekeeper, LiveSnapshot())
        self.lifecycle = Lifecycle.DEGRADED

    def _reconcile(self, now: float) -> None:
        self._last_reconcile = now
        try:
            done = reconcile(self._client, self.config, self.store.read())
        except MediamtxUnreachable as err:
            self._mark_down(str(err))
            return
        except LivestreamError as err:
            if str(err) != self._sync_problem:
                log.error("path sync failed, retrying at the next pass: %s", err)
            self._sync_problem = str(err)
            self.lifecycle = Lifecycle.DEGRADED
            return
        self._reconcile_due = False
        self._reconciles += 1
        if self._sync_problem is not None or not done.empty:
            log.info("%d paths in sync with the cameras", len(self.config.enabled_cameras))
        self._sync_problem = None
        self.lifecycle = Lifecycle.RUNNING

    # -- reporting -------------------------------------------------------------------------
    def status_line(self) -> str:
        """E.g. `12 paths in sync; mediamtx up`."""
        if self._down_reason is not None:
            return "mediamtx down; paths restored when it answers"
        wanted = len(self.config.enabled_cameras)
        if self._sync_problem is not None:
            return f"{wanted} paths wanted, sync failing; mediamtx up"
        return f"{wanted} paths in sync; mediamtx up"

    def heartbeat_detail(self) -> dict[str, Any]:
        """Paths, mediamtx state and how many reconciles completed."""
        return {
            "paths": len(self.config.enabled_cameras),
            "mediamtx": "down" if self._down_reason else "up",
            "reconciles": self._reconciles,
        }
