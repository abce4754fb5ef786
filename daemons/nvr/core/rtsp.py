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
import time
from dataclasses import dataclass
from enum import StrEnum

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


class MalformedAnswer(ValueError):
    """The peer's answer is not RTSP we can read (garbage, a hostile or broken camera)."""


def _recv(sock: socket.socket, size: int, deadline: float) -> bytes:
    """One recv that ends by `deadline`: a camera dripping a byte a second cannot hold us."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimeoutError("answer too slow")
    sock.settimeout(remaining)
    return sock.recv(size)


def _read_head(sock: socket.socket, deadline: float) -> tuple[bytes, bytes]:
    """Read up to the blank line that ends the headers; return (head, start of body)."""
    data = b""
    while b"\r\n\r\n" not in data:
        if len(data) > _MAX_RESPONSE_BYTES:
            raise MalformedAnswer("headers too long")
        chunk = _recv(sock, 4096, deadline)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return head, body


def _parse_head(raw_head: bytes) -> tuple[int, dict[str, str]]:
    lines = raw_head.decode("latin-1").split("\r\n")
    match = re.match(r"RTSP/1\.\d (\d{3})\b", lines[0])
    if match is None:
        raise MalformedAnswer("not an RTSP answer")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        # Cameras may send several WWW-Authenticate headers; prefer Digest, which is stronger.
        key = name.strip().lower()
        if key in headers and key == "www-authenticate" and "digest" not in value.lower():
            continue
        headers[key] = value.strip()
    return int(match.group(1)), headers


def _content_length(headers: dict[str, str]) -> int:
    """The announced body length; a hostile value (negative, huge, not a number) is refused."""
    value = headers.get("content-length", "0").strip() or "0"
    # ASCII digits only ("²" is a digit to str.isdigit), and few of them: int() refuses
    # strings over 4300 digits with a ValueError of its own.
    if not (value.isascii() and value.isdigit() and len(value) <= 9):
        raise MalformedAnswer("bad Content-Length")
    if int(value) > _MAX_RESPONSE_BYTES:
        raise MalformedAnswer("bad Content-Length")
    return int(value)


def _read_response(sock: socket.socket, deadline: float) -> tuple[int, dict[str, str]]:
    raw_head, body = _read_head(sock, deadline)
    status, headers = _parse_head(raw_head)
    # Consume the body (an SDP, or an error page) so a second request on this connection
    # starts reading at its own answer.
    remaining = _content_length(headers) - len(body)
    while remaining > 0:
        chunk = _recv(sock, min(remaining, 4096), deadline)
        if not chunk:
            break
        remaining -= len(chunk)
    return status, headers


def _digest(header: str, user: str, password: str, uri: str) -> str:
    # Control characters from a hostile challenge must not split our request into two.
    fields = dict(re.findall(r'(\w+)="?([^",\x00-\x1f\x7f]*)"?', header))
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
    sock.sendall((request + "\r\n").encode())


def _classify(status: int) -> ProbeAnswer:
    if 200 <= status < 300:
        return ProbeAnswer(ProbeResult.OK)
    if status in (401, 403):
        return ProbeAnswer(ProbeResult.AUTH_FAILED, f"RTSP {status}")
    if status == 404:
        return ProbeAnswer(ProbeResult.NOT_FOUND, "RTSP 404")
    return ProbeAnswer(ProbeResult.ERROR, f"RTSP {status}")


def probe(url: SecretUrl, timeout: float = DEFAULT_TIMEOUT_SECONDS) -> ProbeAnswer:
    """DESCRIBE the stream; never raises, never includes the password in its answer.

    Each of the (at most two) answers must arrive within `timeout` of the first request
    (the second gets one more `timeout`: mediamtx delays a wrong password by up to 4 s).

    The credentials are sent decoded (the URL holds them percent-encoded). DESCRIBE does
    not depend on the RTP transport, so one probe serves TCP and UDP cameras alike.
    Whatever a hostile or broken camera answers, the caller gets a ProbeAnswer, so one
    camera cannot abort a daemon's tick for the others (docs/design/cameras.md, invariant 3).
    """
    uri = url.without_credentials
    deadline = time.monotonic() + timeout
    try:
        with socket.create_connection((url.host, url.port or DEFAULT_PORT), timeout) as sock:
            sock.settimeout(timeout)
            _describe(sock, uri, 1, None)
            status, headers = _read_response(sock, deadline)
            challenge = headers.get("www-authenticate")
            if status == 401 and challenge:
                auth = _authorization(challenge, url, uri)
                if auth is None:
                    return ProbeAnswer(ProbeResult.AUTH_FAILED, "credentials required")
                _describe(sock, uri, 2, auth)
                status, _ = _read_response(sock, deadline + timeout)
            return _classify(status)
    except MalformedAnswer as err:
        return ProbeAnswer(ProbeResult.ERROR, f"malformed answer: {err}")
    except OSError as err:
        return ProbeAnswer(ProbeResult.OFFLINE, type(err).__name__)
    except ValueError as err:  # a port out of range, a name the resolver cannot encode
        return ProbeAnswer(ProbeResult.ERROR, f"bad address: {type(err).__name__}")
