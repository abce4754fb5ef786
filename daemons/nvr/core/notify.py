"""sd_notify for Type=notify units, wrapping the sdnotify package.

sdnotify connects once, does nothing without NOTIFY_SOCKET (good: under supervisord or in a
shell the same code runs), but it silently drops any message that is not latin-1 and it
does not read WATCHDOG_USEC. This wrapper fixes both: STATUS text is folded to latin-1,
and the watchdog interval is derived from the environment.
"""

from __future__ import annotations

import logging
import os
import time
import unicodedata
from collections.abc import Callable

import sdnotify

log = logging.getLogger(__name__)


# Symbols a status line is likely to use that latin-1 lacks and NFKD does not decompose.
_FALLBACKS = {"→": "->", "←": "<-", "—": "-", "–": "-", "✓": "ok", "✔": "ok", "✗": "x", "•": "*"}  # noqa: RUF001


def to_latin1(text: str) -> str:
    """Fold text to latin-1 so sdnotify does not drop it: `café → ok` becomes `café -> ok`.

    Accents are kept where latin-1 has them, decomposed otherwise; anything else
    becomes `?`. Newlines would end the STATUS field, so they become spaces.
    """
    text = " ".join(text.splitlines())
    out = []
    for char in text:
        if ord(char) < 256:
            out.append(char)
            continue
        if char in _FALLBACKS:
            out.append(_FALLBACKS[char])
            continue
        base = unicodedata.normalize("NFKD", char).encode("latin-1", "ignore").decode("latin-1")
        out.append(base if base else "?")
    return "".join(out)


def watchdog_interval(environ: dict[str, str] | None = None) -> float | None:
    """Seconds between WATCHDOG=1 pings: half of WATCHDOG_USEC, or None when disabled.

    systemd sets WATCHDOG_PID to the main pid; a child that inherited the variable
    (ffmpeg, a helper) must not ping on our behalf.
    """
    env = os.environ if environ is None else environ
    usec = env.get("WATCHDOG_USEC")
    if not usec or not usec.isdigit() or int(usec) == 0:
        return None
    pid = env.get("WATCHDOG_PID")
    if pid and pid.isdigit() and int(pid) != os.getpid():
        return None
    return int(usec) / 1_000_000 / 2


class Notifier:
    """READY, STATUS, WATCHDOG and STOPPING for one daemon."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._sd = sdnotify.SystemdNotifier()
        self._clock = clock
        self._status: str | None = None
        self._watchdog_every = watchdog_interval()
        self._last_ping = float("-inf")

    @property
    def watchdog_every(self) -> float | None:
        """Ping interval in seconds, or None without a watchdog."""
        return self._watchdog_every

    def _send(self, message: str) -> None:
        self._sd.notify(message)

    def ready(self, status: str) -> None:
        """Tell systemd that start-up is complete, with a first STATUS line."""
        self._status = to_latin1(status)
        self._send(f"READY=1\nSTATUS={self._status}")

    def status(self, text: str) -> None:
        """Update the STATUS line shown by `systemctl status` (only when it changed)."""
        text = to_latin1(text)
        if text != self._status:
            self._status = text
            self._send(f"STATUS={text}")

    def reloading(self) -> None:
        """A SIGHUP reload is in progress."""
        self._send("RELOADING=1")

    def reloaded(self) -> None:
        """The reload finished."""
        self._send("READY=1")

    def watchdog(self) -> None:
        """Ping the watchdog if half its interval has passed since the last ping.

        Call this from the loop that does the real work, so a hung loop stops the pings
        and systemd restarts the daemon.
        """
        if self._watchdog_every is None:
            return
        now = self._clock()
        if now - self._last_ping >= self._watchdog_every:
            self._last_ping = now
            self._send("WATCHDOG=1")

    def stopping(self, status: str = "stopping") -> None:
        """Tell systemd a clean stop has begun."""
        self._send(f"STOPPING=1\nSTATUS={to_latin1(status)}")


NOTIFY_VARIABLES = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")
