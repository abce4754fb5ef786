"""Heartbeats of the sites: who is alive now, between their 15-minute status reports.

`POST /api/nvr/heartbeat` takes a site's heartbeat, signed like its reports (the same
headers, checked in the same order before the body is read: headoffice.md, invariant 1);
`GET /api/heartbeats` says per site when the last one came and whether the site is
online, i.e. heard from within the sites file's `heartbeat_timeout_seconds` (default 120 s,
the edge/cloud design's timeout).
Kept in memory: liveness is about now, and a restarted receiver knows within one interval.
See docs/design/hse-edge.md, "Heartbeat".
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Flask, Response, jsonify, request

from nvr_headoffice.errors import Refused
from nvr_headoffice.sites import LiveSites
from nvr_headoffice.verify import authenticate_request

log = logging.getLogger(__name__)

# A heartbeat is a few hundred bytes; anything far bigger is refused before it is read.
MAX_HEARTBEAT_BYTES = 4_096


@dataclass(frozen=True)
class Beat:
    """The last heartbeat of a site."""

    received_at: float
    body: dict[str, Any]


class Heartbeats:
    """The last heartbeat per site (request threads write, the views read)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last: dict[str, Beat] = {}

    def note(self, site_id: str, beat: Beat, timeout: float) -> None:
        """Remember a site's heartbeat; log when a silent site comes back."""
        with self._lock:
            previous = self._last.get(site_id)
            self._last[site_id] = beat
        if previous is None or beat.received_at - previous.received_at > timeout:
            log.info("site=%s heartbeat: online", site_id)

    def view(self, now: float, timeout: float) -> dict[str, dict[str, Any]]:
        """Per site: seconds since the last heartbeat, online, and what it said."""
        with self._lock:
            last = dict(self._last)
        return {
            site: {
                "age_seconds": round(now - beat.received_at, 1),
                "online": now - beat.received_at <= timeout,
                "last": beat.body,
            }
            for site, beat in sorted(last.items())
        }


def register(
    app: Flask,
    sites: LiveSites,
    clock: Callable[[], float],
    error: Callable[[int, str], Response],
) -> Heartbeats:
    """Add the heartbeat routes to the app; return the book they keep.

    `error` is the app's `{"error": ...}` answer.
    """
    book = Heartbeats()

    @app.post("/api/nvr/heartbeat")
    def heartbeat() -> Response:
        length = request.content_length
        if length is None:
            return error(411, "Content-Length required")
        if length > MAX_HEARTBEAT_BYTES:
            return error(413, f"a heartbeat is at most {MAX_HEARTBEAT_BYTES} bytes")
        try:
            site_id, body = authenticate_request(request, sites.current, clock())
            data = _body(body)
        except Refused as err:
            log.warning("heartbeat refused from %s: HTTP %d %s", request.remote_addr,
                        err.status, err.reason)  # fmt: skip
            return error(err.status, err.reason)
        book.note(site_id, Beat(clock(), data), sites.current.heartbeat_timeout_seconds)
        return jsonify({"ok": True})

    @app.get("/api/heartbeats")
    def heartbeats() -> Response:
        return jsonify(book.view(clock(), sites.current.heartbeat_timeout_seconds))

    return book


def _body(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except ValueError:
        raise Refused(400, "heartbeat is not JSON") from None
    if not isinstance(data, dict):
        raise Refused(400, "heartbeat must be a JSON object")
    return data
