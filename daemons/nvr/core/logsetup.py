r"""Logging for every daemon: short lines on stderr, real syslog levels under systemd.

journald reads a `<N>` prefix on each stderr line as the syslog priority when the unit
logs through it; JOURNAL_STREAM is set exactly then. Everything that is printed passes
through `redact_text`, so a password that slipped into a message or a traceback (an
ffmpeg command line, an exception from a library) is masked before it leaves the process.

Every value passed as a logging argument has its control characters escaped (a newline
becomes the four characters `\x0a`), so a value from outside (a viewer's user name, a camera's
answer, a header) cannot end our line and forge another: under journald each line is an
entry of its own, with whatever priority prefix it starts with. This is done here, once,
for every daemon; the format strings are ours and are left alone.
"""

from __future__ import annotations

import logging
import numbers
import os
import re
import sys
from collections.abc import Mapping
from typing import Any, TextIO

from nvr.core.redact import redact_text

# logging level → syslog priority (RFC 5424): the value journald expects in `<N>`.
SYSLOG_PRIORITY = {
    logging.DEBUG: 7,
    logging.INFO: 6,
    logging.WARNING: 4,
    logging.ERROR: 3,
    logging.CRITICAL: 2,
}


def syslog_priority(levelno: int) -> int:
    """The syslog priority for a logging level (custom levels round down)."""
    for level in sorted(SYSLOG_PRIORITY, reverse=True):
        if levelno >= level:
            return SYSLOG_PRIORITY[level]
    return SYSLOG_PRIORITY[logging.DEBUG]


# C0 controls, DEL, C1 controls and the Unicode line and paragraph separators: everything a
# terminal, journald or a log reader could take as the end of a line or a control sequence.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def escape_controls(text: str) -> str:
    r"""`text` with each control character written as a Python escape (a newline: `\x0a`)."""
    return _CONTROL.sub(_escape_one, text)


def _escape_one(match: re.Match[str]) -> str:
    code = ord(match[0])
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


class _Escaped:
    """A logging argument that prints (with %s or %r) with its control characters escaped."""

    __slots__ = ("_value",)

    def __init__(self, value: object) -> None:
        self._value = value

    def __str__(self) -> str:
        return escape_controls(str(self._value))

    def __repr__(self) -> str:
        return escape_controls(repr(self._value))


def _escaped(value: Any) -> Any:
    # Numbers stay numbers (%d, %.1f need them) and cannot carry a control character.
    return value if isinstance(value, numbers.Number) else _Escaped(value)


def _escaped_args(args: Any) -> Any:
    if isinstance(args, Mapping):
        return {key: _escaped(value) for key, value in args.items()}
    if isinstance(args, tuple):
        return tuple(_escaped(value) for value in args)
    return args


class RedactingFormatter(logging.Formatter):
    """Formats with escaped arguments, then masks secrets in the whole text, traceback included."""

    def format(self, record: logging.LogRecord) -> str:
        """Format the record and redact the result."""
        if record.args:
            # A copy: other handlers (pytest's caplog) keep the record as logged.
            record = logging.makeLogRecord(record.__dict__)
            record.args = _escaped_args(record.args)
        return redact_text(super().format(record))


class JournalFormatter(RedactingFormatter):
    """`<4>nvr.backup.recorder: camera=cam03 ...`: journald adds time, unit and pid."""

    def __init__(self) -> None:
        super().__init__("%(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        """Prefix every line with the priority, so a traceback keeps its level too."""
        prefix = f"<{syslog_priority(record.levelno)}>"
        return "\n".join(prefix + line for line in super().format(record).splitlines())


def under_journald() -> bool:
    """True when stderr goes to journald (systemd sets JOURNAL_STREAM)."""
    return bool(os.environ.get("JOURNAL_STREAM"))


def configure_logging(level: int | str = logging.INFO, stream: TextIO | None = None) -> None:
    """Install the one stderr handler on the root logger (idempotent)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    if under_journald():
        handler.setFormatter(JournalFormatter())
    else:
        handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
