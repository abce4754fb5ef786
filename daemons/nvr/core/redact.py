"""Keeping credentials out of logs, reports, API answers and exceptions.

Camera URLs usually carry a password (`rtsp://admin:secret@host/...`). The config keeps
the real value in a `Secret`/`SecretUrl`, whose str() and repr() are redacted; code that
really needs the value (ffmpeg's argv) calls `reveal()`. As a second line of defence the
log filter in `nvr.core.logsetup` passes every line through `redact_text`.

Credentials in a URL have one spelling: percent-encoded (RFC 3986 userinfo). `SecretUrl`
encodes once, when it is built, so ffmpeg, ffprobe and mediamtx (which all decode userinfo)
get the password with any character (`@ : / # ?`, space); `username`/`password` decode it for
our own RTSP probe, which sends it in an Authorization header. See docs/design/cameras.md,
invariant 1.
"""

from __future__ import annotations

import re
import threading
from urllib.parse import quote, unquote, urlsplit, urlunsplit

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


def _encode(value: str) -> str:
    """Percent-encode a user name or password for a URL's userinfo (every reserved char)."""
    return quote(value, safe="")


def _with_userinfo(url: str, user: str | None, password: str | None) -> str:
    """Rebuild `url` with userinfo `user:password` (both already encoded)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    netloc = host if parts.port is None else f"{host}:{parts.port}"
    if user is not None or password is not None:
        userinfo = user or ""
        if password is not None:
            userinfo += f":{password}"
        netloc = f"{userinfo}@{netloc}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _canonical(url: str) -> str:
    """`url` with its userinfo percent-encoded exactly once.

    A URL may come with a raw `@` in its password (`admin:p@ss@host`: the host starts after
    the last `@`) or already encoded (`p%40ss`); both become `p%40ss`. Raw `/ # ?` cannot be
    told from the path, so such a password must be encoded or given by `password_file`.
    """
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    user = _encode(unquote(parts.username or ""))
    password = None if parts.password is None else _encode(unquote(parts.password))
    return _with_userinfo(url, user, password)


def redact_url(url: str) -> str:
    """Return `url` with its password (if any) replaced by `***`."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return _with_userinfo(url, parts.username or "", MASK)


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
        self._url = _canonical(url)
        password = urlsplit(self._url).password
        if password:
            # Both spellings: ffmpeg prints the encoded URL, our probe the decoded value.
            register_secret(password)
            register_secret(unquote(password))

    def reveal(self) -> str:
        """Return the URL with its (encoded) password, for the process that must connect."""
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
    def has_fragment(self) -> bool:
        """True when the URL has a `#...` part (never meant for a camera)."""
        return bool(urlsplit(self._url).fragment)

    @property
    def port(self) -> int | None:
        """Explicit port, if any."""
        return urlsplit(self._url).port

    @property
    def username(self) -> str | None:
        """User name, if any, decoded."""
        user = urlsplit(self._url).username
        return None if user is None else unquote(user)

    @property
    def password(self) -> Secret | None:
        """Password, decoded and wrapped so it cannot leak by accident."""
        pw = urlsplit(self._url).password
        return Secret(unquote(pw)) if pw else None

    def with_password(self, password: str) -> SecretUrl:
        """Return a copy whose password is `password`, taken literally (`password_file`)."""
        user = urlsplit(self._url).username or ""
        return SecretUrl(_with_userinfo(self._url, user, _encode(password)))

    @property
    def without_credentials(self) -> str:
        """The URL with no userinfo at all: the request URI our RTSP probe sends."""
        return _with_userinfo(self._url, None, None)

    def __str__(self) -> str:
        return self.redacted

    def __repr__(self) -> str:
        return f"SecretUrl({self.redacted!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SecretUrl) and other._url == self._url

    def __hash__(self) -> int:
        return hash(self._url)
