"""Keeping credentials out of logs, reports, API answers and exceptions.

Camera URLs usually carry a password (`rtsp://admin:secret@host/...`). The config keeps
the real value in a `Secret`/`SecretUrl`, whose str() and repr() are redacted; code that
really needs the value (ffmpeg's argv) calls `reveal()`. As a second line of defence the
log filter in `nvr.core.logsetup` passes every line through `redact_text`.
"""

from __future__ import annotations

import re
import threading
from urllib.parse import urlsplit, urlunsplit

MASK = "***"

# scheme://user:password@  -- the password part is anything up to the last '@' before the
# host, because camera passwords contain '@', ':' and '/' more often than one would hope.
_URL_PASSWORD = re.compile(r"(?P<prefix>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]*:)(?P<pw>[^\s]*)@")

_known_secrets: set[str] = set()
_known_lock = threading.Lock()


def register_secret(value: str) -> None:
    """Remember a secret so `redact_text` masks it wherever it appears.

    Short values are skipped: masking every "1" in a log would make the log useless,
    and a secret that short is not protected by redaction anyway.
    """
    if len(value) >= 4:
        with _known_lock:
            _known_secrets.add(value)


def redact_text(text: str) -> str:
    """Mask URL passwords and registered secrets in free text."""
    text = _URL_PASSWORD.sub(lambda m: f"{m.group('prefix')}{MASK}@", text)
    with _known_lock:
        secrets = sorted(_known_secrets, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            # Whole tokens only: a weak password such as "secret" must not turn every
            # "secret_file" in a message into "***_file".
            text = re.sub(rf"(?<![\w]){re.escape(secret)}(?![\w])", MASK, text)
    return text


def _with_password(url: str, password: str) -> str:
    """Rebuild `url` with `password` in place of its current one."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    netloc = f"{parts.username or ''}:{password}@{host}"
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def redact_url(url: str) -> str:
    """Return `url` with its password (if any) replaced by `***`."""
    if urlsplit(url).password is None:
        return url
    return _with_password(url, MASK)


class Secret:
    """A secret string that never prints itself."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value
        register_secret(value)

    def reveal(self) -> str:
        """Return the real value; only for the place that must send it."""
        return self._value

    def __str__(self) -> str:
        return MASK

    def __repr__(self) -> str:
        return f"Secret({MASK!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


class SecretUrl:
    """A URL whose password is kept but shown as `***` in str(), repr() and f-strings."""

    __slots__ = ("_url",)

    def __init__(self, url: str) -> None:
        self._url = url
        password = urlsplit(url).password
        if password:
            register_secret(password)

    def reveal(self) -> str:
        """Return the URL with its password, for the process that must connect."""
        return self._url

    @property
    def redacted(self) -> str:
        """The URL with `***` in place of the password."""
        return redact_url(self._url)

    @property
    def scheme(self) -> str:
        """The URL scheme, lower case."""
        return urlsplit(self._url).scheme.lower()

    @property
    def host(self) -> str:
        """Host name or address, without brackets."""
        return urlsplit(self._url).hostname or ""

    @property
    def port(self) -> int | None:
        """Explicit port, if any."""
        return urlsplit(self._url).port

    @property
    def username(self) -> str | None:
        """User name, if any."""
        return urlsplit(self._url).username

    @property
    def password(self) -> Secret | None:
        """Password, wrapped so it cannot leak by accident."""
        pw = urlsplit(self._url).password
        return Secret(pw) if pw else None

    def with_password(self, password: str) -> SecretUrl:
        """Return a copy whose password is replaced (used by `password_file`)."""
        return SecretUrl(_with_password(self._url, password))

    def __str__(self) -> str:
        return self.redacted

    def __repr__(self) -> str:
        return f"SecretUrl({self.redacted!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SecretUrl) and other._url == self._url

    def __hash__(self) -> int:
        return hash(self._url)
