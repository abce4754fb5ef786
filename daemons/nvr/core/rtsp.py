"""A cheap RTSP reachability probe: one DESCRIBE, with Basic or Digest auth when asked.

Used to tell "camera offline" from "auth failed" from "stream not found" without starting
ffmpeg, and to notice within seconds that a camera is back (nvr-backup) or to classify a
failing camera (nvr-validator). Costs one TCP connection and two small requests.
"""

from __future__ import annotations

import base64
import hashlib
import re
import socket
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import urlsplit, urlunsplit

from nvr.core.redact import SecretUrl

# mediamtx (and many cameras) pause about 2 s before answering a wrong password.
DEFAULT_TIMEOUT_SECONDS = 5.0
DEFAULT_PORT = 554
_MAX_RESPONSE_BYTES = 64 * 1024


class ProbeResult(StrEnum):
    """What the camera answered, in the words a technician reads in a report."""

    OK = "ok"
    OFFLINE = "camera offline"
    AUTH_FAILED = "auth failed"
    NOT_FOUND = "stream not found"
    ERROR = "rtsp error"


@dataclass(frozen=True)
class ProbeAnswer:
    """A probe's verdict and, for errors, the status line the camera sent."""

    result: ProbeResult
    detail: str = ""


def _url_without_credentials(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host if parts.port is None else f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))


def _read_response(sock: socket.socket) -> tuple[int, dict[str, str]]:
    data = b""
    while b"\r\n\r\n" not in data and len(data) < _MAX_RESPONSE_BYTES:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    raw_head, _, body = data.partition(b"\r\n\r\n")
    head = raw_head.decode("latin-1")
    lines = head.split("\r\n")
    match = re.match(r"RTSP/1\.\d (\d{3})", lines[0]) if lines else None
    if match is None:
        raise ConnectionError("not an RTSP answer")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        # Cameras may send several WWW-Authenticate headers; prefer Digest, which is stronger.
        key = name.strip().lower()
        if key in headers and key == "www-authenticate" and "digest" not in value.lower():
            continue
        headers[key] = value.strip()
    # Consume the body (an SDP, or an error page) so a second request on this connection
    # starts reading at its own answer.
    remaining = int(headers.get("content-length", "0") or 0) - len(body)
    while 0 < remaining <= _MAX_RESPONSE_BYTES:
        chunk = sock.recv(min(remaining, 4096))
        if not chunk:
            break
        remaining -= len(chunk)
    return int(match.group(1)), headers


def _digest(header: str, user: str, password: str, uri: str) -> str:
    fields = dict(re.findall(r'(\w+)="?([^",]*)"?', header))
    realm, nonce = fields.get("realm", ""), fields.get("nonce", "")
    ha1 = hashlib.md5(f"{user}:{realm}:{password}".encode(), usedforsecurity=False).hexdigest()
    ha2 = hashlib.md5(f"DESCRIBE:{uri}".encode(), usedforsecurity=False).hexdigest()
    response = hashlib.md5(f"{ha1}:{nonce}:{ha2}".encode(), usedforsecurity=False).hexdigest()
    return (
        f'Digest username="{user}", realm="{realm}", nonce="{nonce}", uri="{uri}", '
        f'response="{response}"'
    )


def _authorization(challenge: str, url: SecretUrl, uri: str) -> str | None:
    user = url.username or ""
    password = url.password.reveal() if url.password else ""
    if not user:
        return None
    if challenge.lower().startswith("digest"):
        return _digest(challenge, user, password, uri)
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return f"Basic {token}"


def _describe(sock: socket.socket, uri: str, cseq: int, auth: str | None) -> None:
    request = f"DESCRIBE {uri} RTSP/1.0\r\nCSeq: {cseq}\r\nAccept: application/sdp\r\n"
    request += "User-Agent: nvr-probe\r\n"
    if auth:
        request += f"Authorization: {auth}\r\n"
    sock.sendall((request + "\r\n").encode("latin-1"))


def _classify(status: int) -> ProbeAnswer:
    if 200 <= status < 300:
        return ProbeAnswer(ProbeResult.OK)
    if status in (401, 403):
        return ProbeAnswer(ProbeResult.AUTH_FAILED, f"RTSP {status}")
    if status == 404:
        return ProbeAnswer(ProbeResult.NOT_FOUND, "RTSP 404")
    return ProbeAnswer(ProbeResult.ERROR, f"RTSP {status}")


def probe(url: SecretUrl, timeout: float = DEFAULT_TIMEOUT_SECONDS) -> ProbeAnswer:
    """DESCRIBE the stream; never raises, never includes the password in its answer."""
    uri = _url_without_credentials(url.reveal())
    try:
        with socket.create_connection((url.host, url.port or DEFAULT_PORT), timeout) as sock:
            sock.settimeout(timeout)
            _describe(sock, uri, 1, None)
            status, headers = _read_response(sock)
            challenge = headers.get("www-authenticate")
            if status == 401 and challenge:
                auth = _authorization(challenge, url, uri)
                if auth is None:
                    return ProbeAnswer(ProbeResult.AUTH_FAILED, "credentials required")
                _describe(sock, uri, 2, auth)
                status, _ = _read_response(sock)
            return _classify(status)
    except (OSError, ConnectionError) as err:
        return ProbeAnswer(ProbeResult.OFFLINE, type(err).__name__)
