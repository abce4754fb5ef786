"""Fake head office and HSE API: real HTTP(S) servers on 127.0.0.1.

They check what a real receiver would check (HMAC signature and its timestamp window, the
bearer token, the envelope schema), dedupe by report id, remember arrival order, and can
be told to fail: down, 5xx, 400 for one report, 429 with Retry-After.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import ssl
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ENVELOPE_KEYS = {"schema", "id", "site_id", "kind", "created_at", "seq", "body"}
REPLAY_WINDOW_SECONDS = 300


@dataclass
class Faults:
    """What the receiver does wrong on purpose."""

    status: int | None = None  # answer every request with this status
    refuse_ids: set[str] = field(default_factory=set)  # 400 for a request holding one
    throttle_next: int = 0  # answer this many requests with 429
    retry_after: str = "1"
    delay: float = 0.0  # seconds to sleep before answering


class Receiver:
    """One fake receiver; `kind` is "head_office" or "hse"."""

    def __init__(
        self,
        kind: str = "head_office",
        secret: str | None = None,
        token: str | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.kind = kind
        self.secret = secret
        self.token = token
        self.tls = tls
        self.faults = Faults()
        self.lock = threading.Lock()
        self.requests: list[dict[str, Any]] = []  # every request: path, headers, status
        self.arrivals: list[dict[str, Any]] = []  # every envelope accepted, duplicates too
        self.reports: dict[str, dict[str, Any]] = {}  # id -> envelope, first arrival
        self.order: list[int] = []  # seq of each report at its first arrival
        self.problems: list[str] = []  # signature, schema or token failures
        self.hse: dict[str, list[dict[str, Any]]] = {
            "heartbeat": [],
            "video-sources": [],
            "alarms": [],
            "alarm-clips": [],
        }
        self.throttled_at: list[float] = []
        self.port = 0
        self._server: ThreadingHTTPServer | None = None
        self.start()

    # -- lifecycle ---------------------------------------------------------------------
    def start(self) -> None:
        server = ThreadingHTTPServer(("127.0.0.1", self.port), _handler_for(self))
        server.daemon_threads = True
        if self.tls is not None:
            server.socket = self.tls.wrap_socket(server.socket, server_side=True)
        self.port = server.server_address[1]
        self._server = server
        threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def down(self) -> None:
        """Stop listening: connections are refused until `start()`."""
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()
        self._server = None

    def close(self) -> None:
        if self._server is not None:
            self.down()

    @property
    def is_down(self) -> bool:
        return self._server is None

    @property
    def url(self) -> str:
        scheme = "https" if self.tls is not None else "http"
        return f"{scheme}://127.0.0.1:{self.port}/api"

    # -- checks ------------------------------------------------------------------------
    def check_signature(self, headers: Any, body: bytes) -> str | None:
        if self.secret is None:
            return None
        stamp = headers.get("X-NVR-Timestamp", "")
        if not stamp.isdigit() or abs(time.time() - int(stamp)) > REPLAY_WINDOW_SECONDS:
            return f"timestamp {stamp!r} outside the replay window"
        mac = hmac.new(self.secret.encode(), stamp.encode() + b"." + body, hashlib.sha256)
        if not hmac.compare_digest(headers.get("X-NVR-Signature", ""), "sha256=" + mac.hexdigest()):
            return "bad signature"
        return None

    def check_token(self, headers: Any) -> str | None:
        if self.token is None or headers.get("Authorization") == f"Bearer {self.token}":
            return None
        return "bad bearer token"

    def accept(self, envelopes: list[dict[str, Any]]) -> None:
        with self.lock:
            for envelope in envelopes:
                if set(envelope) != ENVELOPE_KEYS:
                    self.problems.append(f"envelope keys {sorted(envelope)}")
                self.arrivals.append(envelope)
                if envelope["id"] not in self.reports:
                    self.reports[envelope["id"]] = envelope
                    self.order.append(envelope["seq"])

    # -- views for assertions ----------------------------------------------------------
    def seqs(self) -> list[int]:
        with self.lock:
            return sorted(e["seq"] for e in self.reports.values())

    def count(self) -> int:
        with self.lock:
            return len(self.reports)

    def duplicates(self) -> int:
        with self.lock:
            return len(self.arrivals) - len(self.reports)


def _handler_for(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            self._handle()

        def do_PUT(self) -> None:
            self._handle()

        def _handle(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if receiver.is_down:
                # A kept-alive connection outlives shutdown(): hang up like a dead host.
                self.close_connection = True
                return
            status, retry_after = _decide(receiver, self.headers, body, self.path)
            with receiver.lock:
                receiver.requests.append(
                    {
                        "path": self.path,
                        "status": status,
                        "key": self.headers.get("Idempotency-Key"),
                        "at": time.monotonic(),
                    }
                )
            self.send_response(status)
            if retry_after:
                self.send_header("Retry-After", retry_after)
            self.send_header("Content-Type", "application/json")
            payload = json.dumps({"status": status}).encode()
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    return Handler


def _decide(receiver: Receiver, headers: Any, body: bytes, path: str) -> tuple[int, str | None]:
    """Apply faults and checks; store what was accepted; return (status, Retry-After)."""
    faults = receiver.faults
    if faults.delay:
        time.sleep(faults.delay)
    if faults.status is not None:
        return faults.status, None
    with receiver.lock:
        if faults.throttle_next > 0:
            faults.throttle_next -= 1
            receiver.throttled_at.append(time.monotonic())
            return 429, faults.retry_after
    problem = receiver.check_signature(headers, body) or receiver.check_token(headers)
    if problem is not None:
        with receiver.lock:
            receiver.problems.append(problem)
        return 401, None
    data = json.loads(body)
    if receiver.kind == "hse":
        return _hse(receiver, path, data, headers), None
    envelopes = data if isinstance(data, list) else [data]
    if any(e.get("id") in faults.refuse_ids for e in envelopes):
        return 400, None
    receiver.accept(envelopes)
    return 200, None


HSE_FIELDS: dict[str, set[str]] = {
    "heartbeat": {"box_id", "online", "last_seen"},
    "video-sources": {"box_id", "video_sources"},
    "alarms": {"box_id", "alarm_id", "alarm_type", "camera_name", "alarm_time", "message"},
    "alarm-clips": {"box_id", "alarm_event_id", "clip_path", "file_name", "start_time"},
}


def _hse(receiver: Receiver, path: str, data: dict[str, Any], headers: Any) -> int:
    what = path.rstrip("/").rsplit("/", 1)[-1]
    if what not in HSE_FIELDS:
        return 404
    missing = HSE_FIELDS[what] - set(data)
    if missing:
        with receiver.lock:
            receiver.problems.append(f"{what}: missing {sorted(missing)}")
        return 422
    with receiver.lock:
        receiver.hse[what].append({**data, "_key": headers.get("Idempotency-Key")})
    return 200
