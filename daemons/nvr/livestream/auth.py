"""Answers to mediamtx's `authMethod: http` questions: who may do what on which path.

Rules (docs/design/livestream.md, invariant 4):
- read: a viewer whose password matches and who is permitted the camera;
- publish: only the configured publisher account; nobody when none is configured;
- api, metrics, pprof: only from loopback, whatever the credentials;
- anything else (playback, unknown actions): denied.
An empty user is always denied: that is what makes mediamtx ask an RTSP or HLS client for
its credentials (401 with a challenge).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from nvr.core.config.services import LivestreamConfig
from nvr.core.config.viewers import ViewerAccount
from nvr.livestream.constants import LOOPBACK, VERIFIED_MAX_ENTRIES, VERIFIED_TTL_SECONDS
from nvr.livestream.passwords import decoy_hash, verify_password
from nvr.livestream.throttle import LoginThrottle

log = logging.getLogger(__name__)

LOCAL_ACTIONS = frozenset({"api", "metrics", "pprof"})


@dataclass(frozen=True)
class AuthQuestion:
    """One question from mediamtx. The password never prints."""

    action: str
    path: str
    user: str
    password: str
    ip: str
    protocol: str = ""

    def __repr__(self) -> str:
        return (
            f"AuthQuestion(action={self.action!r}, path={self.path!r}, user={self.user!r}, "
            f"ip={self.ip!r}, protocol={self.protocol!r})"
        )

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AuthQuestion:
        """From mediamtx's POST body; missing keys become empty strings."""
        values = {
            key: str(data.get(key) or "")
            for key in ("action", "path", "user", "password", "ip", "protocol")
        }
        return cls(**values)


class Verifier:
    """Checks viewer passwords, remembering recent successes for a short while.

    Failures are throttled per client address and per account (nvr.livestream.throttle).

    HLS asks again for every playlist and segment; one scrypt per request would cost a
    core per few viewers. Remembered pairs are keyed by an HMAC with a per-process key, so
    the memory holds no password.
    """

    def __init__(
        self,
        viewers: tuple[ViewerAccount, ...],
        throttle: LoginThrottle,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._viewers = {viewer.user: viewer for viewer in viewers}
        self.throttle = throttle
        self._clock = clock
        self._key = secrets.token_bytes(32)
        self._verified: dict[bytes, float] = {}
        self._lock = threading.Lock()

    def check(self, user: str, password: str, client: str = "") -> ViewerAccount | None:
        """The account when `user` exists, `password` is right and `client` is not throttled.

        An unknown user costs the same scrypt as a known one (no user enumeration by
        timing), and every failure counts against the client address and the account.
        """
        viewer = self._viewers.get(user)
        if viewer is not None and self._remembered(viewer, password):
            return viewer
        if self.throttle.wait_seconds(client, user) > 0:
            return None
        encoded = viewer.password_hash if viewer is not None else decoy_hash()
        if not verify_password(password, encoded) or viewer is None:
            self.throttle.failed(client, user)
            return None
        self._remember(viewer, password)
        return viewer

    def _token(self, viewer: ViewerAccount, password: str) -> bytes:
        return hmac.new(
            self._key, f"{viewer.user}\0{password}\0{viewer.password_hash}".encode(), hashlib.sha256
        ).digest()

    def _remembered(self, viewer: ViewerAccount, password: str) -> bool:
        token = self._token(viewer, password)
        with self._lock:
            return self._verified.get(token, float("-inf")) > self._clock()

    def _remember(self, viewer: ViewerAccount, password: str) -> None:
        token = self._token(viewer, password)
        with self._lock:
            if len(self._verified) >= VERIFIED_MAX_ENTRIES:
                self._verified.clear()
            self._verified[token] = self._clock() + VERIFIED_TTL_SECONDS


class Gatekeeper:
    """The decisions, for one config; a reload builds a new one."""

    def __init__(
        self,
        config: LivestreamConfig,
        cameras: frozenset[str],
        clock: Callable[[], float] = time.monotonic,
        throttle: LoginThrottle | None = None,
    ) -> None:
        self._config = config
        self._cameras = cameras
        # The daemon passes one throttle to every gatekeeper, so a reload forgets no failure.
        self.verifier = Verifier(config.viewers, throttle or LoginThrottle(clock), clock)

    def allows(self, question: AuthQuestion) -> bool:
        """True to let mediamtx go ahead."""
        if question.action in LOCAL_ACTIONS:
            return question.ip in LOOPBACK
        if not question.user:
            return False  # mediamtx then asks the client for credentials
        if question.action == "read":
            return self._may_read(question)
        if question.action == "publish":
            return self._may_publish(question)
        return False

    def _may_read(self, question: AuthQuestion) -> bool:
        if question.path not in self._cameras:
            return False
        viewer = self.verifier.check(question.user, question.password, question.ip)
        return viewer is not None and viewer.may_watch(question.path)

    def _may_publish(self, question: AuthQuestion) -> bool:
        publisher = self._config.publisher
        if publisher is None or question.user != publisher:
            return False
        return self.verifier.check(question.user, question.password, question.ip) is not None
