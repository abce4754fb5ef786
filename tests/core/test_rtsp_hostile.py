"""The RTSP probe against cameras of our own on loopback: odd passwords and hostile answers.

A real TCP server plays the camera. It records the Authorization header it receives, so a
test can check that the password with `@ : / # ?` and a space arrives decoded from our probe
and from ffmpeg (mediamtx cannot serve a `:` password, see tests/backup/test_field_cameras.py),
and it sends malformed or random answers, so a test can check that the probe never raises
(issue 18, item 7): one broken camera must not abort a daemon's tick for the others.
"""

from __future__ import annotations

import base64
import hashlib
import random
import re
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from urllib.parse import quote

import pytest

from nvr.core.redact import SecretUrl
from nvr.core.rtsp import ProbeAnswer, ProbeResult, probe
from nvr.core.tools import require_tool
from nvrtest import closing_factory

pytestmark = pytest.mark.timeout(120)

COLON_PASSWORD = "a:b@c/d#e?f g%41"
FUZZ_SEED = 17
FUZZ_CASES = 300
PROBE_TIMEOUT = 2.0

Answer = Callable[[bytes], bytes | None]  # request -> bytes to send (None: hang up)


class FakeCamera:
    """A one-thread RTSP server on loopback answering each request with `answer(request)`."""

    def __init__(self, answer: Answer, hang_up: bool = False) -> None:
        self.answer = answer
        self.hang_up = hang_up  # close the connection after each answer
        self.requests: list[bytes] = []
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(8)
        self._sock.settimeout(0.2)
        self.port = int(self._sock.getsockname()[1])
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def url(self, password: str | None = None) -> str:
        auth = "" if password is None else f"admin:{quote(password, safe='')}@"
        return f"rtsp://{auth}127.0.0.1:{self.port}/cam"

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._sock.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            with conn:
                self._session(conn)

    def _session(self, conn: socket.socket) -> None:
        conn.settimeout(PROBE_TIMEOUT * 2)
        data = b""
        while not self._stop.is_set():
            try:
                chunk = conn.recv(4096)
            except OSError:
                return
            if not chunk:
                return
            data += chunk
            while b"\r\n\r\n" in data:
                request, _, data = data.partition(b"\r\n\r\n")
                self.requests.append(request)
                reply = self.answer(request)
                if reply is None:
                    return
                try:
                    conn.sendall(reply)
                except OSError:
                    return
                if self.hang_up:
                    return


@pytest.fixture
def camera_factory() -> Iterator[Callable[..., FakeCamera]]:
    yield from closing_factory(FakeCamera)


def _cseq(request: bytes) -> str:
    for line in request.split(b"\r\n"):
        if line.lower().startswith(b"cseq:"):
            return line.split(b":", 1)[1].strip().decode()
    return "0"


def basic_camera(password: str) -> Answer:
    """Answers 401 with a Basic challenge, then 200 to the right user and password."""
    expected = "Basic " + base64.b64encode(f"admin:{password}".encode()).decode()

    def answer(request: bytes) -> bytes:
        cseq = _cseq(request)
        if f"Authorization: {expected}".encode() in request:
            return f"RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\nContent-Length: 0\r\n\r\n".encode()
        return (
            f"RTSP/1.0 401 Unauthorized\r\nCSeq: {cseq}\r\n"
            'WWW-Authenticate: Basic realm="cam"\r\n\r\n'
        ).encode()

    return answer


def digest_camera(password: str) -> Answer:
    """Answers 401 with a Digest challenge, then 200 to a response made with `password`."""

    def answer(request: bytes) -> bytes:
        cseq = _cseq(request)
        if _digest_ok(request, password):
            return f"RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\nContent-Length: 0\r\n\r\n".encode()
        return (
            f"RTSP/1.0 401 Unauthorized\r\nCSeq: {cseq}\r\n"
            'WWW-Authenticate: Digest realm="cam", nonce="0a4f113b"\r\n\r\n'
        ).encode()

    return answer


def _digest_ok(request: bytes, password: str) -> bool:
    """RFC 2069 Digest (what cameras and mediamtx use): md5(HA1:nonce:HA2)."""
    lines = request.decode("utf-8", "replace").split("\r\n")
    header = next((line for line in lines if line.lower().startswith("authorization: digest")), "")
    fields = dict(re.findall(r'(\w+)="([^"]*)"', header))
    if not fields:
        return False
    method = lines[0].split(" ", 1)[0]

    def md5(text: str) -> str:
        return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()

    ha1 = md5(f"{fields['username']}:{fields['realm']}:{password}")
    ha2 = md5(f"{method}:{fields['uri']}")
    return fields.get("response") == md5(f"{ha1}:{fields['nonce']}:{ha2}")


def test_probe_sends_a_password_with_any_character_decoded(
    camera_factory: Callable[..., FakeCamera],
) -> None:
    camera = camera_factory(basic_camera(COLON_PASSWORD))
    url = SecretUrl(camera.url(COLON_PASSWORD))
    assert probe(url, PROBE_TIMEOUT) == ProbeAnswer(ProbeResult.OK)
    # The same password given as it is (password_file) gives the same URL and answer.
    from_file = SecretUrl(camera.url("placeholder")).with_password(COLON_PASSWORD)
    assert from_file == url
    assert probe(from_file, PROBE_TIMEOUT).result is ProbeResult.OK
    assert COLON_PASSWORD not in str(url) + repr(url)


HOSTILE_ANSWERS = [
    b"RTSP/1.0 200 OK\r\nContent-Length: -5\r\n\r\n",
    b"RTSP/1.0 200 OK\r\nContent-Length: abc\r\n\r\n",
    b"RTSP/1.0 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n",
    b"RTSP/1.0 200 OK\r\nContent-Length: \xff\xfe\r\n\r\n",
    b"RTSP/1.0 200 OK\r\nContent-Length: \xb2\r\n\r\n",  # a superscript two
    b"RTSP/1.0 200 OK\r\nContent-Length: " + b"9" * 5000 + b"\r\n\r\n",
    b'RTSP/1.0 401 Unauthorized\r\nWWW-Authenticate: Digest realm="\r\nx", nonce\r\n\r\n',
    b"RTSP/1.0 401 Unauthorized\r\nWWW-Authenticate: \r\n\r\n",
    b"RTSP/1.0 401 Unauthorized\r\nWWW-Authenticate: Digest\x00\xff\r\n\r\n",
    b"RTSP/1.0 999999 OK\r\n\r\n",
    b"RTSP/2.0 200 OK\r\n\r\n",
    b"HTTP/1.1 200 OK\r\n\r\n",
    b"\r\n\r\n",
    b"",
    b"\x00" * 70_000,
    b"RTSP/1.0 200 OK\r\n" + b"X: " + b"y" * 70_000 + b"\r\n\r\n",
    b"RTSP/1.0 200 OK\r\n" + b"\n" * 10_000,
    "RTSP/1.0 200 \u00e9\u4e2d\r\n\r\n".encode(),
]


CHALLENGE_WITH_BODY = (
    b'RTSP/1.0 401 Unauthorized\r\nCSeq: 1\r\nWWW-Authenticate: Digest realm="r", nonce="n"'
    b"\r\nContent-Length: 4\r\n\r\nbody"
)


def _mutated(rng: random.Random) -> bytes:
    """A plausible answer with random bytes flipped, cut, or repeated."""
    base = bytearray(rng.choice([*HOSTILE_ANSWERS[:8], CHALLENGE_WITH_BODY]))
    for _ in range(rng.randint(1, 8)):
        action = rng.randrange(3)
        where = rng.randrange(len(base) + 1)
        if action == 0:
            base[where:where] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
        elif action == 1:
            del base[where : where + rng.randint(1, 8)]
        else:
            base[where:where] = base[: rng.randint(0, 40)]
    return bytes(base)


def test_hostile_answers_never_raise(camera_factory: Callable[..., FakeCamera]) -> None:
    rng = random.Random(FUZZ_SEED)
    answers = HOSTILE_ANSWERS + [_mutated(rng) for _ in range(FUZZ_CASES)]
    current: list[bytes] = [b""]
    camera = camera_factory(lambda request: current[0] or None, hang_up=True)
    url = SecretUrl(camera.url("pw-hostile"))
    results: set[ProbeResult] = set()
    details: set[str] = set()
    for answer in answers:
        current[0] = answer
        result = probe(url, PROBE_TIMEOUT)  # raising here fails the test with the case
        assert isinstance(result, ProbeAnswer), answer[:80]
        assert "pw-hostile" not in result.detail
        results.add(result.result)
        details.add(result.detail)
    # The probe told garbage apart from a camera that is down.
    assert ProbeResult.ERROR in results
    assert not any("bad address" in detail for detail in details), "a parse error escaped"


def test_a_camera_dripping_its_answer_cannot_hold_the_probe() -> None:
    # A byte every 50 ms, never a blank line: without an overall deadline each byte would
    # restart the socket timeout and the probe would wait as long as the camera likes.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        port = int(server.getsockname()[1])
        done = threading.Event()

        def drip() -> None:
            conn, _ = server.accept()
            with conn:
                while not done.wait(0.05):
                    try:
                        conn.sendall(b"R")
                    except OSError:
                        return

        dripper = threading.Thread(target=drip, daemon=True)
        dripper.start()
        started = time.monotonic()
        answer = probe(SecretUrl(f"rtsp://127.0.0.1:{port}/cam"), timeout=0.5)
        elapsed = time.monotonic() - started
        done.set()
        dripper.join(5)
    assert answer.result is ProbeResult.OFFLINE
    assert elapsed < 3, f"the probe waited {elapsed:.1f}s for a dripping camera"


@pytest.mark.parametrize("scheme", ["basic", "digest"])
def test_probe_and_ffmpeg_authenticate_with_any_character(
    camera_factory: Callable[..., FakeCamera], scheme: str
) -> None:
    make = basic_camera if scheme == "basic" else digest_camera
    camera = camera_factory(make(COLON_PASSWORD))
    url = SecretUrl(camera.url(COLON_PASSWORD))
    assert probe(url, PROBE_TIMEOUT).result is ProbeResult.OK
    before = len(camera.requests)
    subprocess.run(
        [require_tool("ffprobe"), "-v", "error", "-rtsp_transport", "tcp", "-timeout",
         "3000000", url.reveal()],
        capture_output=True, check=False, timeout=30,
    )  # fmt: skip
    # The camera answered 200 to ffprobe once it authenticated (it then fails on the empty
    # SDP, which does not matter here): a request after the challenge carried credentials.
    assert any(_authorized(request, scheme) for request in camera.requests[before:])


def _authorized(request: bytes, scheme: str) -> bool:
    if scheme == "digest":
        return _digest_ok(request, COLON_PASSWORD)
    expected = base64.b64encode(f"admin:{COLON_PASSWORD}".encode())
    return b"Authorization: Basic " + expected in request
