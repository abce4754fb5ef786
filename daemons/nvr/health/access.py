"""Who may see what on nvr-health (docs/design/security.md, invariant 4).

- The probes (/health, /health/live, /ready, /metrics) carry no pictures and no secrets:
  open to whoever reaches the port, or, with `health.token`, to requests that carry it as
  `Authorization: Bearer <token>` (what Prometheus's `authorization` setting sends).
- The status page shows every camera's snapshot: a viewer account with `cameras: all` (a
  technician). `/snapshot/<cam>.jpg`: a viewer account permitted that camera.
Viewer passwords are the `livestream.viewers` hashes, checked and throttled like nvr-livestream
checks them (nvr.core.logins).
"""

from __future__ import annotations

import hmac
import threading
import time
from collections.abc import Callable

from flask import Request, Response, jsonify

from nvr.core.config import Config
from nvr.core.config.viewers import ALL_CAMERAS, ViewerAccount
from nvr.core.login_journal import FailureJournal
from nvr.core.logins import LoginThrottle, Verifier, login_challenge, too_many_logins

REALM = "nvr-health"


class Access:
    """The login checks of one nvr-health process; the throttle outlives config reloads."""

    def __init__(
        self, clock: Callable[[], float] = time.monotonic, journal: FailureJournal | None = None
    ) -> None:
        self._clock = clock
        self._throttle = LoginThrottle(clock, journal=journal)
        self._lock = threading.Lock()
        self._viewers: tuple[ViewerAccount, ...] | None = None
        self._verifier: Verifier | None = None

    def probe_refusal(self, config: Config, request: Request) -> Response | None:
        """None when a probe may answer, else the 401 to send."""
        token = config.health.token
        if token is None:
            return None
        given = request.headers.get("Authorization", "")
        expected = f"Bearer {token.reveal()}"
        if hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode()):
            return None
        response = jsonify(error="send the NOC token: Authorization: Bearer <health.token>")
        response.status_code = 401
        response.headers["WWW-Authenticate"] = f'Bearer realm="{REALM}"'
        return response

    def viewer(self, config: Config, request: Request, camera: str | None) -> Response | None:
        """None when the logged-in viewer may see `camera` (None: every camera), else an answer."""
        credentials = request.authorization
        if credentials is None or not credentials.username or credentials.password is None:
            return _challenge()
        client = request.remote_addr or ""
        account = self._current(config).check(credentials.username, credentials.password, client)
        if account is None:
            wait = self._throttle.wait_seconds(client, credentials.username)
            return too_many_logins(wait) if wait > 0 else _challenge()
        allowed = ALL_CAMERAS in account.cameras if camera is None else account.may_watch(camera)
        if allowed:
            return None
        response = jsonify(error="this account may not see this")
        response.status_code = 403
        return response

    def _current(self, config: Config) -> Verifier:
        """The verifier for the current accounts (rebuilt when a reload changed them)."""
        viewers = config.livestream.viewers
        with self._lock:
            if self._verifier is None or viewers != self._viewers:
                self._verifier = Verifier(viewers, self._throttle, self._clock)
                self._viewers = viewers
            return self._verifier


def _challenge() -> Response:
    return login_challenge(REALM, "log in with a viewer account (technicians: `cameras: all`)")
