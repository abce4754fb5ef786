"""Failed viewer logins, counted per client address and per account (docs/design/livestream.md,
invariant 6).

Each wrong guess costs a scrypt computation (~50 ms of the recorder's CPU), so guessing is
limited before any password is checked: past `CLIENT_FAILURES` failures from one address, or
`ACCOUNT_FAILURES` failures on one account (from anywhere), within `WINDOW_SECONDS`, further
attempts are refused without hashing until the oldest failure ages out of the window. The
per-account limit is higher than the per-client one, so one guesser cannot lock a viewer out
alone; a viewer whose password was verified recently is let in from the verifier's memory
even while its account is throttled.

Repeated failures are logged once per window and key (the first failure, then the next one
after the window with the count of those in between), so a guessing run is one line per
window, not one per guess.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from nvr.livestream.constants import (
    ACCOUNT_FAILURES,
    CLIENT_FAILURES,
    THROTTLE_MAX_KEYS,
    WINDOW_SECONDS,
)

log = logging.getLogger(__name__)


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
    ) -> None:
        self._clock = clock
        self._limits = {"client": client_failures, "account": account_failures}
        self._window = window_seconds
        self._failures: dict[tuple[str, str], _Failures] = {}
        self._lock = threading.Lock()

    def wait_seconds(self, client: str, user: str) -> float:
        """0 when a login may be tried now, else the seconds until it may."""
        now = self._clock()
        waits = [0.0]
        with self._lock:
            for key in (("client", client), ("account", user)):
                entry = self._failures.get(key)
                if entry is None:
                    continue
                self._expire(entry, now)
                if len(entry.times) >= self._limits[key[0]]:
                    waits.append(entry.times[0] + self._window - now)
        return max(waits)

    def failed(self, client: str, user: str) -> None:
        """Count one failed login (wrong password or unknown user)."""
        now = self._clock()
        with self._lock:
            if len(self._failures) >= THROTTLE_MAX_KEYS:
                self._forget_idle(now)
            for key in (("client", client), ("account", user)):
                entry = self._failures.setdefault(key, _Failures())
                self._expire(entry, now)
                entry.times.append(now)
                self._maybe_log(key, entry, now)

    def _expire(self, entry: _Failures, now: float) -> None:
        while entry.times and now - entry.times[0] >= self._window:
            entry.times.popleft()

    def _maybe_log(self, key: tuple[str, str], entry: _Failures, now: float) -> None:
        """The first failure of a window is logged; the rest are counted into the next line."""
        if now - entry.logged_at < self._window:
            entry.unlogged += 1
            return
        kind, value = key
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
