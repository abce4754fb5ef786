"""Serving a daemon's Flask app: plain HTTP on loopback, HTTPS for the LAN.

See docs/design/security.md.

- `listen`: waitress, plain HTTP. The config refuses a non-loopback address there unless the
  operator wrote `plain_http_anywhere: true` (nvr.core.config.served, ServedSection).
- `tls_listen`: cheroot with the configured certificate and key (waitress has no TLS).
  cheroot's own adapter shakes hands inside its accept loop, where one client that connects
  and says nothing stalls every other client for the socket timeout; ours defers the
  handshake to the first read in a worker thread (`_DeferredHandshake`), so a silent client
  only waits in cheroot's selector until it times out.

Both serve the same app in threads of the daemon; both are bound before READY=1 so a port
that is taken fails the start with one line naming the key.
"""

from __future__ import annotations

import logging
import socket
import ssl
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cheroot import wsgi
from cheroot.ssl.builtin import BuiltinSSLAdapter

# No stubs for waitress; the calls are exercised by the daemon tests.
from waitress import wasyncore
from waitress.server import create_server

from nvr.core.config.served import ServedSection
from nvr.core.errors import NvrError

log = logging.getLogger(__name__)

JOIN_TIMEOUT_SECONDS = 5.0
# A TLS client that stays silent is dropped after this long (it holds a worker meanwhile).
TLS_SOCKET_TIMEOUT_SECONDS = 10
# Request line and headers, on the TLS listener: waitress's own default on the plain one.
MAX_HEADER_BYTES = 256 * 1024


class ServeError(NvrError):
    """An address cannot be bound, or the certificate or key cannot be loaded."""


@dataclass(frozen=True)
class Endpoint:
    """One address to serve on; TLS when `cert` and `key` are given."""

    key: str  # the config key, for messages: "health.listen", "livestream.tls_listen"
    listen: str
    cert: Path | None = None
    key_file: Path | None = None

    @property
    def scheme(self) -> str:
        """`https` or `http`."""
        return "https" if self.cert is not None else "http"


def split_listen(listen: str) -> tuple[str, int]:
    """`HOST:PORT` (or `[v6]:PORT`) as (host, port)."""
    host, _, port = listen.rpartition(":")
    return host.strip("[]"), int(port)


def endpoints(section: ServedSection, prefix: str) -> list[Endpoint]:
    """`listen` (plain) and, when set, `tls_listen` (HTTPS) of a served section."""
    found = [Endpoint(f"{prefix}.listen", section.listen)]
    if section.tls_listen is not None:
        found.append(
            Endpoint(
                f"{prefix}.tls_listen",
                section.tls_listen,
                section.tls_cert_file,
                section.tls_key_file,
            )
        )
    return found


class _Plain:
    def __init__(self, app: Any, endpoint: Endpoint, limits: Limits) -> None:
        host, port = split_listen(endpoint.listen)
        # waitress answers 413 to a larger Content-Length before reading the body, and
        # stops a chunked body at the limit (its default is 1 GiB, buffered to disk).
        self._server = create_server(
            app,
            host=host,
            port=port,
            threads=limits.threads,
            max_request_body_size=limits.max_body_bytes,
        )
        self.address = f"{host}:{self._server.effective_port}"

    def run(self) -> None:
        self._server.run()

    def close(self) -> None:
        close_waitress(self._server)


def close_waitress(server: Any) -> None:
    """Close a running waitress server's sockets from its own loop thread.

    Closing them from another thread races the loop's poll(): it then dies on a closed
    descriptor with a traceback in the log. Run in the loop thread, the close empties the
    socket map and the loop returns, so the caller can join it.
    """

    def close_all() -> None:
        wasyncore.close_all(server._map, ignore_all=True)

    try:
        server.trigger.pull_trigger(close_all)
    except OSError:  # the trigger's pipe is gone: no loop left to race, close from here
        close_all()


class _QuietServer(wsgi.Server):
    """cheroot's server, saying a client's broken TLS in one line instead of a traceback."""

    def error_log(self, msg: str = "", level: int = logging.INFO, traceback: bool = False) -> None:
        """Cheroot's report of a connection problem: a client's fault unless it is ours."""
        err = sys.exc_info()[1]
        if isinstance(err, OSError):  # ssl.SSLError included: plain HTTP, a scanner, a drop
            log.info("TLS client dropped: %s", err)
            return
        log.log(level, "cheroot: %s", msg, exc_info=traceback)


class _Tls:
    def __init__(self, app: Any, endpoint: Endpoint, limits: Limits) -> None:
        assert endpoint.cert is not None and endpoint.key_file is not None
        adapter = _adapter(endpoint)
        host, port = split_listen(endpoint.listen)
        # cheroot's default body limit is none at all: 413 past ours, as waitress does.
        self._server = _QuietServer(
            (host, port), app, numthreads=limits.threads, timeout=TLS_SOCKET_TIMEOUT_SECONDS
        )
        self._server.max_request_body_size = limits.max_body_bytes
        self._server.max_request_header_size = MAX_HEADER_BYTES  # cheroot's default: none
        self._server.ssl_adapter = adapter
        self._server.prepare()  # binds now, so a taken port fails before READY
        bound = self._server.bind_addr
        self.address = f"{host}:{bound[1] if isinstance(bound, tuple) else port}"

    def run(self) -> None:
        self._server.serve()

    def close(self) -> None:
        self._server.stop()


class _DeferredHandshake(BuiltinSSLAdapter):
    """cheroot's adapter, with the handshake left to OpenSSL's first read (in a worker)."""

    def wrap(self, sock: socket.socket) -> tuple[ssl.SSLSocket, dict[str, str]]:
        """Wrap without shaking hands; the cipher is unknown yet, so the environ is short."""
        wrapped = self.context.wrap_socket(sock, do_handshake_on_connect=False, server_side=True)
        return wrapped, {"wsgi.url_scheme": "https", "HTTPS": "on"}


def _adapter(endpoint: Endpoint) -> BuiltinSSLAdapter:
    """The TLS adapter with TLS 1.2 or later; ServeError naming the files otherwise."""
    try:
        adapter = _DeferredHandshake(str(endpoint.cert), str(endpoint.key_file))
    except (OSError, ssl.SSLError) as err:
        raise _cannot_load(endpoint, err) from None
    adapter.context.minimum_version = ssl.TLSVersion.TLSv1_2
    return adapter


def server_context(endpoint: Endpoint) -> ssl.SSLContext:
    """A TLS 1.2+ server context with the endpoint's pair, for servers that are not cheroot.

    nvr-hse's aiohttp takes it as it is (its handshakes run in its event loop, so a
    silent client stalls nobody). ServeError naming the files when they do not load.
    """
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(str(endpoint.cert), str(endpoint.key_file))
    except (OSError, ssl.SSLError) as err:
        raise _cannot_load(endpoint, err) from None
    return context


def _cannot_load(endpoint: Endpoint, err: OSError) -> ServeError:
    reason = getattr(err, "strerror", None) or getattr(err, "reason", None) or err
    return ServeError(
        f"{endpoint.key}: cannot load certificate {endpoint.cert} and key"
        f" {endpoint.key_file}: {reason}"
    )


@dataclass(frozen=True)
class Limits:
    """What one daemon's servers allow: worker threads, and the largest request body.

    Each daemon sets the body limit to what its API needs (docs/design/security.md,
    invariant 10): a larger body is answered 413 before the app reads it.
    """

    threads: int
    max_body_bytes: int


class HttpServers:
    """The app on each endpoint, each in its own thread; started and stopped together."""

    def __init__(self, app: Any, endpoints: list[Endpoint], limits: Limits) -> None:
        self._app = app
        self._endpoints = endpoints
        self._limits = limits
        self._running: list[tuple[_Plain | _Tls, threading.Thread]] = []
        self.urls: list[str] = []

    def start(self) -> None:
        """Bind every endpoint and serve; ServeError (nothing left running) on a failure."""
        try:
            for endpoint in self._endpoints:
                self._start_one(endpoint)
        except ServeError:
            self.stop()
            raise

    def _start_one(self, endpoint: Endpoint) -> None:
        kind = _Tls if endpoint.cert is not None else _Plain
        try:
            server = kind(self._app, endpoint, self._limits)
        except OSError as err:
            raise ServeError(f"{endpoint.key} {endpoint.listen}: {err.strerror or err}") from None
        thread = threading.Thread(target=server.run, name=f"http-{endpoint.key}", daemon=True)
        thread.start()
        self._running.append((server, thread))
        self.urls.append(f"{endpoint.scheme}://{server.address}/")

    def stop(self) -> None:
        """Close the listening sockets and wait briefly for the serving threads."""
        for server, _ in self._running:
            server.close()
        for _, thread in self._running:
            thread.join(JOIN_TIMEOUT_SECONDS)
        self._running.clear()
