"""The HTTP servers we ship, started for real on loopback, and how to sign for each.

- nvr-health on a simulated box (tests/nvrtest/box.py), with viewer accounts;
- nvr-livestream (viewer API and mediamtx's auth callback) without a mediamtx: only its
  HTTP side is fuzzed here;
- nvr-headoffice with two sites (reports and heartbeats);
- nvr-hse (the HSE backend's API, the ingest API, the WebSocket's HTTP side).
Each yields a `Target`: the base URL, the spec, optional request decorations, and the
process (its log is searched for tracebacks afterwards).
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from fuzz.hammer import Decorate
from nvr.core.passwords import hash_password
from nvr.core.redact import Secret
from nvr.core.signing import report_signature
from nvr_camsim.mediamtx import free_port
from nvrtest import Child, NvrDaemon, base_config, wait_until
from nvrtest.box import TECH, TECH_PW, make_box
from nvrtest.headoffice import SECRET, SITE, HeadOffice, write_sites

VIEWER, VIEWER_PW = "fuzzy", "fuzzy-watches-all-0d"


@dataclass
class Target:
    """One server to fuzz with one spec; `runs` are (name, decoration) pairs."""

    spec: str
    base_url: str
    process: Child
    runs: list[tuple[str, Decorate | None]] = field(default_factory=list)
    verdicts: frozenset[str] = frozenset()

    def tracebacks(self) -> int:
        """Tracebacks in the server's log so far."""
        return self.process.log().count("Traceback")


def basic(user: str, password: str) -> Decorate:
    """Adds HTTP basic credentials."""
    token = base64.b64encode(f"{user}:{password}".encode()).decode()

    def decorate(kwargs: dict[str, Any]) -> None:
        kwargs["headers"] = {**(kwargs.get("headers") or {}), "Authorization": f"Basic {token}"}

    return decorate


def bearer(token: str) -> Decorate:
    """Adds `Authorization: Bearer <token>`."""

    def decorate(kwargs: dict[str, Any]) -> None:
        kwargs["headers"] = {**(kwargs.get("headers") or {}), "Authorization": f"Bearer {token}"}

    return decorate


def on_camera(camera: str, then: Decorate) -> Decorate:
    """Names a camera of the box in a posted JSON object, so the other fields get checked.

    A generated camera id is almost never one of the box's: without this, every posted
    event would stop at the 404 for its camera.
    """

    def decorate(kwargs: dict[str, Any]) -> None:
        body = kwargs.get("json")
        if isinstance(body, dict) and "camera" in body:
            kwargs["json"] = {**body, "camera": camera}
        then(kwargs)

    return decorate


def signed(site: str, secret: str) -> Decorate:
    """Signs the body for `site` as nvr-uplink does (fresh timestamp, HMAC over it)."""

    def decorate(kwargs: dict[str, Any]) -> None:
        if "json" in kwargs:
            kwargs["data"] = json.dumps(kwargs.pop("json")).encode()
        body = kwargs.get("data") or b""
        if isinstance(body, str):
            body = body.encode()
            kwargs["data"] = body
        if not isinstance(body, bytes):
            return  # a body schemathesis could not serialise: sent unsigned
        stamp = str(int(time.time()))
        kwargs["headers"] = {
            **(kwargs.get("headers") or {}),
            "X-NVR-Site": site,
            "X-NVR-Timestamp": stamp,
            "X-NVR-Signature": report_signature(Secret(secret), stamp, body),
        }

    return decorate


def _config_file(root: Path, **sections: Any) -> Path:
    path = root / "nvr.yaml"
    path.write_text(yaml.safe_dump(base_config(root, **sections)))
    return path


class _Daemon(NvrDaemon):
    def __init__(self, root: Path, module: str, config: Path, ready: str) -> None:
        super().__init__(module, config, root=root)
        wait_until(lambda: ready in self.log(), 30, f"{module}: {ready!r}")


@contextmanager
def health(root: Path) -> Iterator[Target]:
    """nvr-health on a simulated healthy box."""
    box = make_box(root)
    process = _Daemon(root, "nvr.health.main", box.config_path, "serving /health")
    try:
        yield Target(
            "health.yaml",
            f"http://{box.config.health.listen}",
            process,
            # Logged in first: the anonymous run's bad guesses get 127.0.0.1 throttled.
            [("technician", basic(TECH, TECH_PW)), ("anonymous", None)],
            frozenset({"/health", "/ready"}),
        )
    finally:
        process.stop()
        box.store.close()


@contextmanager
def livestream(root: Path) -> Iterator[tuple[Target, Target]]:
    """nvr-livestream: the viewer API and the auth callback, on one port."""
    port = free_port()
    viewers = [{"user": VIEWER, "password_hash": hash_password(VIEWER_PW), "cameras": "all"}]
    path = _config_file(
        root,
        livestream={
            "listen": f"127.0.0.1:{port}",
            "mediamtx_api": f"http://127.0.0.1:{free_port()}",
            "public_host": "127.0.0.1",
            "viewers": viewers,
        },
    )
    process = _Daemon(root, "nvr.livestream.main", path, "listening on")
    base = f"http://127.0.0.1:{port}"
    try:
        yield (
            Target(
                "livestream.yaml",
                base,
                process,
                [("viewer", basic(VIEWER, VIEWER_PW)), ("anonymous", None)],
            ),
            Target("mediamtx-auth.yaml", base, process, [("mediamtx", None)]),
        )
    finally:
        process.stop()


@contextmanager
def headoffice(root: Path) -> Iterator[Target]:
    """nvr-headoffice with two sites."""
    process = HeadOffice(root, write_sites(root))
    try:
        yield Target(
            "headoffice.yaml",
            f"http://127.0.0.1:{process.port}",
            process,
            [("unsigned", None), ("signed", signed(SITE, SECRET))],
        )
    finally:
        process.stop()


HSE_TOKEN, HSE_INGEST_TOKEN = "fuzz-centre-token-20", "fuzz-ingest-token-20"


@contextmanager
def hse(root: Path) -> Iterator[Target]:
    """nvr-hse with the centre's and the ingest token, a rate limit the fuzzer stays under."""
    port = free_port()
    path = _config_file(
        root,
        livestream={"public_host": "127.0.0.1"},
        hse={
            "listen": f"127.0.0.1:{port}",
            "token": HSE_TOKEN,
            "ingest_token": HSE_INGEST_TOKEN,
            # Fuzzed bodies must reach the parser, not the 429 of the flood limit.
            "ingest_per_minute": 6_000,
            "ingest_burst": 1_000,
        },
    )
    process = _Daemon(root, "nvr.hse.main", path, "serving the HSE API")
    try:
        yield Target(
            "hse.yaml",
            f"http://127.0.0.1:{port}",
            process,
            [
                ("centre", bearer(HSE_TOKEN)),
                ("ingest", on_camera("cam01", bearer(HSE_INGEST_TOKEN))),
                ("anonymous", None),
            ],
        )
    finally:
        process.stop()
