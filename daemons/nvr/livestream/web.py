"""Serving the Flask app with waitress in a thread of the daemon."""

from __future__ import annotations

import logging
import threading
from typing import Any

from flask import Flask
from waitress.server import create_server

from nvr.livestream.constants import WSGI_THREADS
from nvr.livestream.errors import LivestreamError

log = logging.getLogger(__name__)

JOIN_TIMEOUT_SECONDS = 5.0


class WebServer:
    """waitress on `HOST:PORT`, started before READY and closed at shutdown."""

    def __init__(self, app: Flask, listen: str) -> None:
        self._app = app
        self.listen = listen
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Bind and serve; LivestreamError when the address cannot be bound."""
        host, _, port = self.listen.rpartition(":")
        try:
            self._server = create_server(
                self._app, host=host.strip("[]"), port=int(port), threads=WSGI_THREADS
            )
        except OSError as err:
            raise LivestreamError(f"cannot listen on {self.listen}: {err.strerror}") from err
        self._thread = threading.Thread(target=self._server.run, name="web", daemon=True)
        self._thread.start()
        log.info("viewer API and auth callback listening on %s", self.listen)

    def stop(self) -> None:
        """Close the listening socket and wait briefly for the serving thread."""
        if self._server is not None:
            self._server.close()
            self._server = None
        if self._thread is not None:
            self._thread.join(JOIN_TIMEOUT_SECONDS)
            self._thread = None
