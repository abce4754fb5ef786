"""A small HTTP server answering mediamtx's `authMethod: http` callbacks.

mediamtx (v1.20.1) POSTs one JSON object per connection attempt with the keys `ip`, `user`,
`password`, `token`, `action` (publish, read, playback, api, metrics, pprof), `path`,
`protocol` (rtsp, rtmp, hls, webrtc, srt, ...), `id`, `query` and `userAgent`. Any 2xx
answer allows the action, anything else denies it. An RTSP client first comes without
credentials; a denial then makes mediamtx answer 401 with a challenge, and the client
retries with its user and password. A denial of real credentials is delayed by mediamtx
by a random 0-4 s against brute force, so a wrong password takes a few seconds to fail.

Because the decision is a Python callable, a test can change a password at run time
without reloading mediamtx.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Thread
from typing import Any

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024


@dataclass(frozen=True)
class AuthRequest:
    """One question from mediamtx (may this user do this action on this path)."""

    user: str
    password: str
    action: str
    path: str
    protocol: str = ""
    ip: str = ""
    query: str = ""

    def __repr__(self) -> str:
        # Never print the password, even in a test failure.
        return (
            f"AuthRequest(user={self.user!r}, action={self.action!r}, path={self.path!r}, "
            f"protocol={self.protocol!r}, ip={self.ip!r})"
        )

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AuthRequest:
        """Build from mediamtx's JSON body; missing keys become empty strings."""
        return cls(
            **{
                name: str(data.get(name) or "")
                for name in ("user", "password", "action", "path", "protocol", "ip", "query")
            }
        )


Authorizer = Callable[[AuthRequest], bool]


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], authorize: Authorizer) -> None:
        super().__init__(address, _Handler)
        self.authorize = authorize


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        allowed = self._decide()
        self.send_response(200 if allowed else 401)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _decide(self) -> bool:
        assert isinstance(self.server, _Server)
        try:
            length = min(int(self.headers.get("Content-Length") or 0), MAX_BODY_BYTES)
            request = AuthRequest.from_json(json.loads(self.rfile.read(length)))
        except (ValueError, TypeError) as err:
            log.warning("unreadable auth request from mediamtx: %s", err)
            return False
        try:
            allowed = self.server.authorize(request)
        except Exception:
            # A bug in the decision must deny, not open the cameras to everyone.
            log.exception("auth callback failed for %r: denying", request)
            return False
        if not allowed and request.user:
            log.debug(
                "denied user=%s action=%s path=%s", request.user, request.action, request.path
            )
        return allowed

    def log_message(self, format: str, *args: Any) -> None:
        """Silence http.server's per-request lines on stderr."""


class AuthServer:
    """The HTTP endpoint mediamtx asks, on 127.0.0.1 and a free port, in a thread."""

    def __init__(self, authorize: Authorizer, host: str = "127.0.0.1") -> None:
        self._server = _Server((host, 0), authorize)
        self._thread = Thread(target=self._server.serve_forever, name="camsim-auth", daemon=True)

    @property
    def url(self) -> str:
        """The URL to put in mediamtx's `authHTTPAddress`."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/mediamtx-auth"

    def start(self) -> None:
        """Serve in a background thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(5.0)
        self._server.server_close()
