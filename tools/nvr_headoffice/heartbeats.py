"""Heartbeats of the sites: who is alive now, between their 15-minute status reports.

`POST /api/nvr/heartbeat` takes a site's heartbeat, signed like its reports (the same
headers, checked in the same order before the body is read: headoffice.md, invariant 1);
`GET /api/heartbeats` says per site when the last one came and whether the site is
online, i.e. heard from within the sites file's `heartbeat_timeout_seconds` (default 120 s,
the edge/cloud design's timeout).
Kept in the report database (the last one per site), so that every worker of
`--workers N` answers alike and the fleet page can say which sites are offline.
See docs/design/hse-edge.md, "Heartbeat".
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, jsonify, request

from nvr_headoffice.errors import Refused
from nvr_headoffice.sites import LiveSites
from nvr_headoffice.store import ReportStore
from nvr_headoffice.verify import authenticate_request

log = logging.getLogger(__name__)

# A heartbeat is a few hundred bytes; anything far bigger is refused before it is read.
MAX_HEARTBEAT_BYTES = 4_096


def heartbeat_view(
    last: dict[str, tuple[int, dict[str, Any]]], now: float, timeout: float
) -> dict[str, dict[str, Any]]:
    """Per site: seconds since the last heartbeat, online, and what it said."""
    return {
        site: {
            "age_seconds": round(now - received_ms / 1000, 1),
            "online": now - received_ms / 1000 <= timeout,
            "last": body,
        }
        for site, (received_ms, body) in sorted(last.items())
    }


def register(
    app: Flask,
    store: ReportStore,
    sites: LiveSites,
    clock: Callable[[], float],
    error: Callable[[int, str], Response],
) -> None:
    """Add the heartbeat routes to the app; `error` is the app's `{"error": ...}` answer."""

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
        now = clock()
        previous = store.note_heartbeat(site_id, int(now * 1000), data)
        if previous is None or now - previous / 1000 > sites.current.heartbeat_timeout_seconds:
            log.info("site=%s heartbeat: online", site_id)
        return jsonify({"ok": True})

    @app.get("/api/heartbeats")
    def heartbeats() -> Response:
        view = heartbeat_view(store.heartbeats(), clock(), sites.current.heartbeat_timeout_seconds)
        return jsonify(view)


def _body(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except ValueError:
        raise Refused(400, "heartbeat is not JSON") from None
    if not isinstance(data, dict):
        raise Refused(400, "heartbeat must be a JSON object")
    return data
