"""Stopping the daemons' HTTP servers: clean, even with viewers' idle connections open."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from nvr.core.httpserve import Endpoint, HttpServers, Limits


def hello(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
    return [b"ok"]


@pytest.fixture
def thread_errors() -> Iterator[list[BaseException | None]]:
    """Exceptions that ended any thread during the test (a traceback in a daemon's log)."""
    seen: list[BaseException | None] = []
    previous = threading.excepthook
    threading.excepthook = lambda args: seen.append(args.exc_value)
    yield seen
    threading.excepthook = previous


def keep_alive_request(port: int) -> socket.socket:
    """A client that asked once, got its answer, and keeps the connection open."""
    client = socket.create_connection(("127.0.0.1", port), timeout=10)
    client.sendall(b"GET / HTTP/1.1\r\nHost: box\r\n\r\n")
    answer = b""
    while not answer.endswith(b"\r\n\r\nok"):
        answer += client.recv(4096)
    assert answer.startswith(b"HTTP/1.1 200")
    return client


def test_stop_ends_the_serving_thread_with_idle_keep_alive_clients_open(
    thread_errors: list[BaseException | None],
) -> None:
    for _ in range(3):  # a stop and a start again, as on a reload
        servers = HttpServers(hello, [Endpoint("health.listen", "127.0.0.1:0")], Limits(2, 1024))
        servers.start()
        port = int(servers.urls[0].rstrip("/").rsplit(":", 1)[1])
        clients = [keep_alive_request(port) for _ in range(3)]
        try:
            threads = [t for t in threading.enumerate() if t.name == "http-health.listen"]
            servers.stop()
            assert not any(t.is_alive() for t in threads), "the server thread outlived stop()"
            for client in clients:
                assert client.recv(4096) == b"", "an idle client was not disconnected"
        finally:
            for client in clients:
                client.close()
    assert thread_errors == []
