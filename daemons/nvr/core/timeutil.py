"""Times as technicians type them and as the state file stores them (UTC milliseconds)."""

from __future__ import annotations

from datetime import UTC, datetime

from nvr.core.errors import NvrError


class TimeFormatError(NvrError):
    """A time given on the command line could not be understood."""


def parse_time(text: str, *, now_ms: int | None = None) -> int:
    """Parse `2026-11-21T08:00:00Z`, `2026-11-21 08:00` (local time), `now`, or `-2h`.

    On a command line relative times are written `--from=-2h`, since argparse reads a
    bare `-2h` as an option.

    A time without an offset is local time, because that is what a technician on site
    reads from the clock on the wall; the result is always UTC milliseconds.
    """
    text = text.strip()
    if text == "now":
        return now_ms if now_ms is not None else int(datetime.now(UTC).timestamp() * 1000)
    if text.startswith("-") and text[1:-1].isdigit() and text[-1] in _UNITS:
        base = now_ms if now_ms is not None else int(datetime.now(UTC).timestamp() * 1000)
        return base - int(text[1:-1]) * _UNITS[text[-1]]
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise TimeFormatError(
            f"cannot read time {text!r}: use 2026-11-21T08:00:00Z, '2026-11-21 08:00' "
            "(local time) or -2h"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.astimezone()  # interpret as local time
    return int(parsed.timestamp() * 1000)


_UNITS = {"s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}


def format_ms(ms: int) -> str:
    """RFC 3339 UTC with milliseconds: `2026-11-21T08:00:00.000Z`."""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def format_local(ms: int) -> str:
    """The box's local time with its zone, as a technician reads it: `2026-11-21 09:00:00 CET`.

    For people; `--json` and the state file keep UTC (format_ms).
    """
    return datetime.fromtimestamp(ms / 1000, UTC).astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")


def local_zone() -> str:
    """The zone typed times without an offset are read in: `CET (UTC+01:00)`."""
    now = datetime.now(UTC).astimezone()
    offset = now.strftime("%z")
    return f"{now.tzname()} (UTC{offset[:3]}:{offset[3:]})"


def typed_as_local(text: str) -> bool:
    """True when `text` is a wall-clock time without an offset (parse_time reads it as local)."""
    text = text.strip()
    if text == "now" or text.startswith("-"):
        return False
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return False
    return parsed.tzinfo is None
