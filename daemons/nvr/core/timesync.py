"""Whether the box's clock is synchronised: evidence timestamps are only as good as it is.

Asks whichever time service the box has: systemd-timesyncd (or anything systemd knows
about) through `timedatectl show`, else chrony through `chronyc -n tracking`. Where
neither answers (a container whose host keeps the time, a box without systemd) the state
is "unknown", said plainly, not guessed. nvr-health, nvr-report and nvrctl share this
probe (docs/design/recording.md, "Time").
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from nvr.core.process import run_command

# Both commands answer from memory in milliseconds; a hung D-Bus must not hold a tick.
TIMEDATECTL = ("timedatectl", "show")
CHRONYC = ("chronyc", "-n", "tracking")

# argv -> stdout; raises OSError (no such command) or subprocess errors (it failed).
Runner = Callable[[Sequence[str]], str]


class SyncState(StrEnum):
    """What the time service says about the clock."""

    SYNCHRONISED = "synchronised"
    UNSYNCHRONISED = "unsynchronised"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class TimeSync:
    """The clock's state, which service said so, and in its words."""

    state: SyncState
    source: str  # "timedatectl", "chronyc" or "none"
    detail: str

    def to_json(self) -> dict[str, Any]:
        """JSON for /health, the status report and nvrctl."""
        return {"state": str(self.state), "source": self.source, "detail": self.detail}


def _fields(text: str, separator: str) -> dict[str, str]:
    pairs = (line.split(separator, 1) for line in text.splitlines() if separator in line)
    return {key.strip(): value.strip() for key, value in pairs}


def parse_timedatectl(text: str) -> TimeSync | None:
    """`timedatectl show` (key=value lines); None when it says nothing about NTP."""
    values = _fields(text, "=")
    synced = values.get("NTPSynchronized")
    if synced is None:
        return None
    service = f"NTP service {'on' if values.get('NTP') == 'yes' else 'off'}"
    if synced == "yes":
        return TimeSync(SyncState.SYNCHRONISED, "timedatectl", f"NTPSynchronized=yes, {service}")
    return TimeSync(SyncState.UNSYNCHRONISED, "timedatectl", f"NTPSynchronized=no, {service}")


def parse_chronyc(text: str) -> TimeSync | None:
    """`chronyc -n tracking` ("Leap status : Normal" once synchronised); None if unreadable."""
    values = _fields(text, ":")
    leap = values.get("Leap status")
    if leap is None:
        return None
    if leap == "Not synchronised":
        return TimeSync(SyncState.UNSYNCHRONISED, "chronyc", "chrony: leap status not synchronised")
    offset = values.get("System time", "offset unknown")
    return TimeSync(SyncState.SYNCHRONISED, "chronyc", f"chrony: {offset}")


def _ask(run: Runner, argv: Sequence[str]) -> str | None:
    try:
        return run(argv)
    except (OSError, subprocess.SubprocessError):
        return None  # not installed, or no systemd/chronyd to answer


def probe_time_sync(run: Runner = run_command) -> TimeSync:
    """Ask timedatectl, then chronyc; "unknown" when neither can tell."""
    for argv, parse in ((TIMEDATECTL, parse_timedatectl), (CHRONYC, parse_chronyc)):
        out = _ask(run, argv)
        result = parse(out) if out is not None else None
        if result is not None:
            return result
    return TimeSync(
        SyncState.UNKNOWN,
        "none",
        "no time service answered (timedatectl needs systemd, chronyc needs chronyd):"
        " whether the clock is synchronised is unknown",
    )
