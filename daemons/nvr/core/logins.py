"""Viewer logins: password checks with a short memory, and failures throttled.

See docs/design/security.md, invariant 1. Shared by nvr-livestream and nvr-health.

Each wrong guess costs a scrypt computation (~50 ms of the recorder's CPU), so guessing is
limited before any password is checked: past `CLIENT_FAILURES` failures from one address, or
`ACCOUNT_FAILURES` failures on one account (from anywhere), within `WINDOW_SECONDS`, further
attempts are refused without hashing until the oldest failure ages out of the window. The
per-account limit is higher than the per-client one, so one guesser cannot lock a viewer out
alone; a viewer whose password was verified recently is let in from the verifier's memory
even while its account is throttled.

Failures are also written to the state file (`nvr.core.login_journal`) when the daemon
gives a journal, and read back at start: restarting the daemon does not reset the count.

Repeated failures are logged once per window and key (the first failure, then the next one
after the window with the count of those in between), so a guessing run is one line per
window, not one per guess.
"""

from __future__ import annotations

import collections
import hashlib
import hmac
import logging
import math
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from flask import Response, jsonify

from nvr.core.config.viewers import ViewerAccount
from nvr.core.login_journal import FailureJournal, key_digest
from nvr.core.passwords import decoy_hash, verify_password

log = logging.getLogger(__name__)

# Failed logins: past this many failures within the window, from one address or on one
# account, attempts are refused unchecked until the oldest ages out. 10 per 5 minutes leaves
# room for typos; a guesser gets ~3,000 guesses a day per address instead of ~1.4 million.
WINDOW_SECONDS = 300.0
CLIENT_FAILURES = 10
# Higher than the per-address limit, so one guesser alone cannot lock a viewer out.
ACCOUNT_FAILURES = 30
# Memory bound on counted addresses and names (a spray of made-up names or addresses).
THROTTLE_MAX_KEYS = 10_000
# Verified (user, password) pairs are remembered this long, so HLS segment requests do not
# each cost a scrypt computation; a config reload clears the memory.
VERIFIED_TTL_SECONDS = 60.0
VERIFIED_MAX_ENTRIES = 1024


@dataclass
class _Failures:
    """Failure times of one key within the window, and what the log already said."""

    times: collections.deque[float] = field(default_factory=collections.deque)
    logged_at: float = float("-inf")
    unlogged: int = 0


class LoginThrottle:
    """Counts failed logins; says how long a client or account must wait. Thread-safe."""

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        *,
        client_failures: int = CLIENT_FAILURES,
        account_failures: int = ACCOUNT_FAILURES,
        window_seconds: float = WINDOW_SECONDS,
        journal: FailureJournal | None = None,
    ) -> None:
        self._clock = clock
        self._limits = {"client": client_failures, "account": account_failures}
        self._window = window_seconds
        # Keyed by (kind, digest of the value): the journal's rows name keys the same way.
        self._failures: dict[tuple[str, str], _Failures] = {}
        self._lock = threading.Lock()
        self._journal = journal
        if journal is not None:
            self._restore(journal)

    def _restore(self, journal: FailureJournal) -> None:
        """Take back the failures a previous run of this service wrote, ages kept."""
        now = self._clock()
        for past in journal.recent(self._window):
            entry = self._failures.setdefault((past.kind, past.key), _Failures())
            entry.times.append(now - past.age_seconds)
        if self._failures:
            log.info("%d failed logins of the last window kept from before", len(self._failures))

    def wait_seconds(self, client: str, user: str) -> float:
        """0 when a login may be tried now, else the seconds until it may."""
        now = self._clock()
        waits = [0.0]
        with self._lock:
            for kind, value in (("client", client), ("account", user)):
                entry = self._failures.get((kind, key_digest(kind, value)))
                if entry is None:
                    continue
                self._expire(entry, now)
                if len(entry.times) >= self._limits[kind]:
                    waits.append(entry.times[0] + self._window - now)
        return max(waits)

    def failed(self, client: str, user: str) -> None:
        """Count one failed login (wrong password or unknown user), in the journal too."""
        now = self._clock()
        named = (("client", client), ("account", user))
        keys = [(kind, key_digest(kind, value)) for kind, value in named]
        with self._lock:
            if len(self._failures) >= THROTTLE_MAX_KEYS:
                self._forget_idle(now)
            for (kind, value), key in zip(named, keys, strict=True):
                entry = self._failures.setdefault(key, _Failures())
                self._expire(entry, now)
                entry.times.append(now)
                self._maybe_log(kind, value, entry, now)
        if self._journal is not None:
            # Before the answer goes out: a restart right after still counts this guess.
            self._journal.record(keys, self._window)

    def _expire(self, entry: _Failures, now: float) -> None:
        while entry.times and now - entry.times[0] >= self._window:
            entry.times.popleft()

    def _maybe_log(self, kind: str, value: str, entry: _Failures, now: float) -> None:
        """The first failure of a window is logged; the rest are counted into the next line."""
        if now - entry.logged_at < self._window:
            entry.unlogged += 1
            return
        earlier = f" (and {entry.unlogged} more in the last window)" if entry.unlogged else ""
        limited = len(entry.times) >= self._limits[kind]
        log.warning(
            "failed viewer login %s=%s%s%s",
            "ip" if kind == "client" else "user",
            value,
            earlier,
            ": throttled" if limited else "",
        )
        entry.logged_at = now
        entry.unlogged = 0

    def _forget_idle(self, now: float) -> None:
        """Bound memory against a spray of addresses or names: drop keys with no recent failure."""
        for key in [k for k, e in self._failures.items() if now - e.logged_at >= self._window]:
            entry = self._failures[key]
            self._expire(entry, now)
            if not entry.times:
                del self._failures[key]
        if len(self._failures) >= THROTTLE_MAX_KEYS:
            # Still full: a flood within one window. Forget the oldest half.
            for key in list(self._failures)[: THROTTLE_MAX_KEYS // 2]:
                del self._failures[key]


class Verifier:
    """Checks viewer passwords, remembering recent successes for a short while.

    Failures are throttled per client address and per account (`LoginThrottle`).

    HLS asks again for every playlist and segment; one scrypt per request would cost a
    core per few viewers. Remembered pairs are keyed by an HMAC with a per-process key, so
    the memory holds no password.
    """

    def __init__(
        self,
        viewers: Iterable[ViewerAccount],
        throttle: LoginThrottle,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._viewers = {viewer.user: viewer for viewer in viewers}
        self.throttle = throttle
        decoy_hash()  # made now: made at the first unknown user, it would make that one slower
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


def login_challenge(realm: str, message: str) -> Response:
    """401 asking for HTTP Basic credentials (the viewer API and nvr-health answer alike)."""
    response = jsonify(error=message)
    response.status_code = 401
    response.headers["WWW-Authenticate"] = f'Basic realm="{realm}"'
    return response


def too_many_logins(wait_seconds: float) -> Response:
    """429 for a client or account past the throttle, with when to try again."""
    response = jsonify(error="too many failed logins: wait before trying again")
    response.status_code = 429
    response.headers["Retry-After"] = str(math.ceil(wait_seconds))
    return response
