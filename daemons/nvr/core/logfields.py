"""Structured logs: fields a technician can filter on, in the journal or as JSON lines.

Under journald (JOURNAL_STREAM set and its socket there) each record goes to the journal's
native protocol with fields, so `journalctl NVR_CAMERA=cam03 --since -1h` shows one camera
across every daemon:

    MESSAGE  PRIORITY  SYSLOG_IDENTIFIER  NVR_DAEMON  NVR_CAMERA  NVR_EVENT  NVR_LOGGER
    CODE_FILE  CODE_LINE  CODE_FUNC

Elsewhere `--log-format json` (or `logging.format: json`) prints one JSON object per line
with the same fields in lower case, for a log shipper such as Loki's. Both pass every text
through `redact_text`, like the plain format does.

The camera comes from `extra={"camera": ...}` (events pass it) or, for the many existing
lines written as `camera=cam03 ...`, from the message itself.
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import struct
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from nvr.core.config.logs import LogFormat
from nvr.core.logsetup import configure_logging, syslog_priority, under_journald
from nvr.core.redact import redact_text

JOURNAL_SOCKET = Path("/run/systemd/journal/socket")
# Where the journal listens, for a test's own receiver; journald itself never moves.
JOURNAL_SOCKET_ENV = "NVR_JOURNAL_SOCKET"
_CAMERA_IN_TEXT = re.compile(r"\bcamera=([A-Za-z0-9][A-Za-z0-9_-]{0,31})\b")
# journald drops datagrams above its socket's limit; longer messages are cut (a traceback
# of this size has said what it had to say).
MAX_MESSAGE_BYTES = 60_000


def record_fields(record: logging.LogRecord, daemon: str, message: str) -> dict[str, str]:
    """The filterable fields of one record (upper-case journal names), values redacted."""
    fields = {
        "MESSAGE": message,
        "PRIORITY": str(syslog_priority(record.levelno)),
        "SYSLOG_IDENTIFIER": daemon,
        "NVR_DAEMON": daemon,
        "NVR_LOGGER": record.name,
        "CODE_FILE": record.pathname,
        "CODE_LINE": str(record.lineno),
        "CODE_FUNC": record.funcName,
    }
    camera = getattr(record, "camera", None) or _camera_in(message)
    if camera:
        fields["NVR_CAMERA"] = str(camera)
    event = getattr(record, "event", None)
    if event:
        fields["NVR_EVENT"] = str(event)
    return {key: redact_text(value) for key, value in fields.items()}


def _camera_in(text: str) -> str | None:
    match = _CAMERA_IN_TEXT.search(text)
    return match.group(1) if match else None


def encode_journal(fields: dict[str, str]) -> bytes:
    """One datagram of journald's native protocol (systemd's journal-native docs).

    `KEY=value` and a newline; a value holding a newline goes as the key, a newline, its
    length as a 64-bit little-endian number, the value and a newline.
    """
    out = bytearray()
    for key, value in fields.items():
        data = value.encode("utf-8", "replace")
        if b"\n" in data:
            out += key.encode() + b"\n" + struct.pack("<Q", len(data)) + data + b"\n"
        else:
            out += key.encode() + b"=" + data + b"\n"
    return bytes(out)


class JournalHandler(logging.Handler):
    """Sends each record to journald with its fields; stderr when the journal refuses."""

    def __init__(self, daemon: str, path: Path) -> None:
        super().__init__()
        self.daemon = daemon
        self.path = str(path)
        self._text = logging.Formatter("%(name)s: %(message)s")
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)

    def emit(self, record: logging.LogRecord) -> None:
        """One datagram per record; a failed send falls back to a plain stderr line."""
        try:
            message = self._text.format(record)[:MAX_MESSAGE_BYTES]
            datagram = encode_journal(record_fields(record, self.daemon, message))
            self._sock.sendto(datagram, self.path)
        except OSError:
            # journald restarting or flooded: the line still reaches it through stderr.
            sys.stderr.write(redact_text(f"<{syslog_priority(record.levelno)}>{message}\n"))
        except Exception:
            self.handleError(record)

    def close(self) -> None:
        """Close the socket with the handler."""
        self._sock.close()
        super().close()


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, the journal's fields in lower case."""

    def __init__(self, daemon: str) -> None:
        super().__init__("%(message)s")
        self.daemon = daemon

    def format(self, record: logging.LogRecord) -> str:
        """The record as a JSON line (a traceback rides in `exception`)."""
        fields = record_fields(record, self.daemon, record.getMessage())
        body: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            **{_json_key(key): value for key, value in fields.items() if key != "MESSAGE"},
            "message": fields["MESSAGE"],
        }
        body["priority"] = int(body["priority"])
        if record.exc_info:
            body["exception"] = redact_text(self.formatException(record.exc_info))
        return json.dumps(body, ensure_ascii=False)


def _json_key(key: str) -> str:
    return key.lower().removeprefix("nvr_")


def journal_socket() -> Path | None:
    """The journal's socket when this process logs to journald and it is there."""
    if not under_journald():
        return None
    path = Path(os.environ.get(JOURNAL_SOCKET_ENV) or JOURNAL_SOCKET)
    return path if path.exists() else None


def configure_daemon_logging(
    level: int | str, daemon: str, log_format: LogFormat = LogFormat.TEXT
) -> None:
    """The journal with fields under journald, else JSON lines or the plain format."""
    configure_logging(level)
    sock = journal_socket()
    if sock is not None:
        handler: logging.Handler = JournalHandler(daemon, sock)
    elif log_format is LogFormat.JSON:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter(daemon))
    else:
        return
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
