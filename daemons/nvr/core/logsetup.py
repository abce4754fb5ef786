r"""Logging for every daemon: short lines on stderr, real syslog levels under systemd.

journald reads a `<N>` prefix on each stderr line as the syslog priority when the unit
logs through it; JOURNAL_STREAM is set exactly then. Everything that is printed passes
through `redact_text`, so a password that slipped into a message or a traceback (an
ffmpeg command line, an exception from a library) is masked before it leaves the process.

Every message has its control characters escaped (a newline becomes the four characters
`\x0a`), so a value from outside (a viewer's user name, a camera's answer, a request path in
a library's message) cannot end our line and forge another: under journald each line is an
entry of its own. This is done here, once, for every daemon (docs/design/security.md,
invariant 6). Our messages are one line by design; a traceback keeps its lines, each with
the record's own priority prefix.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from typing import TextIO

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


# C0 controls but tab, DEL, C1 controls and the Unicode line and paragraph separators:
# everything a terminal, journald or a log reader could take as the end of a line or a
# control sequence (a tab is harmless and common in tools' messages).
_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")


def escape_controls(text: str) -> str:
    r"""`text` with each control character written as a Python escape (a newline: `\x0a`)."""
    return _CONTROL.sub(_escape_one, text)


def _escape_one(match: re.Match[str]) -> str:
    code = ord(match[0])
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


class RedactingFormatter(logging.Formatter):
    """Formats with the message escaped, then masks secrets in the whole text."""

    def format(self, record: logging.LogRecord) -> str:
        """Format the record (its message on one line; a traceback keeps its lines), redact."""
        # A copy: other handlers (pytest's caplog) keep the record as logged.
        record = logging.makeLogRecord(record.__dict__)
        record.msg = escape_controls(record.getMessage())
        record.args = None
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
