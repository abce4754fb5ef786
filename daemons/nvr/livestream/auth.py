"""Answers to mediamtx's `authMethod: http` questions: who may do what on which path.

Rules (docs/design/livestream.md, invariant 4):
- read: a viewer whose password matches and who is permitted the camera;
- publish: only the configured publisher account; nobody when none is configured;
- api, metrics, pprof: only from loopback, and only with nvr-livestream's own API
  credentials (docs/design/security.md, invariant 5): other local users and daemons may
  not read camera URLs;
- anything else (playback, unknown actions): denied.
An empty user is always denied: that is what makes mediamtx ask an RTSP or HLS client for
its credentials (401 with a challenge).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from nvr.core.config.livestream import LivestreamConfig
from nvr.core.logins import LoginThrottle, Verifier
from nvr.livestream.constants import LOOPBACK
from nvr.livestream.mediamtx import ApiCredentials

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


class Gatekeeper:
    """The decisions, for one config; a reload builds a new one."""

    def __init__(
        self,
        config: LivestreamConfig,
        cameras: frozenset[str],
        clock: Callable[[], float] = time.monotonic,
        throttle: LoginThrottle | None = None,
        api: ApiCredentials | None = None,
    ) -> None:
        self._config = config
        self._cameras = cameras
        self.api = api or ApiCredentials.for_config(config)
        # The daemon passes one throttle to every gatekeeper, so a reload forgets no failure.
        self.verifier = Verifier(config.viewers, throttle or LoginThrottle(clock), clock)

    def allows(self, question: AuthQuestion) -> bool:
        """True to let mediamtx go ahead."""
        if question.action in LOCAL_ACTIONS:
            return question.ip in LOOPBACK and self.api.match(question.user, question.password)
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
