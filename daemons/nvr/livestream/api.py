"""The viewer API and mediamtx's auth callback, as one Flask app.

- `POST /mediamtx/auth`: mediamtx's question; answered only for loopback callers (the
  decision would otherwise be a password oracle without mediamtx's brute-force delay).
- `GET /api/streams` and `GET /api/streams/<id>`: for a viewer logged in with HTTP basic
  auth, the cameras it may watch, with RTSP, HLS and WebRTC URLs (no credentials in them)
  and the live state. A camera the viewer may not watch answers 404, like a missing one.
- recorded video by time (`/list`, `/get`, `/hls/...`, `/view/...`): nvr.livestream.playback.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Flask, Response, jsonify, request

from nvr.core.config import CameraConfig, Config
from nvr.core.config.viewers import ViewerAccount
from nvr.core.errors import ConfigError, NvrError
from nvr.core.livewords import live_word
from nvr.core.logins import login_challenge, too_many_logins
from nvr.core.viewer_urls import stream_urls
from nvr.livestream.auth import AuthQuestion, Gatekeeper
from nvr.livestream.constants import AUTH_ROUTE, LOOPBACK
from nvr.livestream.errors import LivestreamError
from nvr.livestream.live import LiveSnapshot, PathState
from nvr.livestream.playback import register_playback

log = logging.getLogger(__name__)

REALM = "nvr-livestream"


@dataclass(frozen=True)
class Shared:
    """What a request needs, swapped as a whole on reload or poll."""

    config: Config
    gatekeeper: Gatekeeper
    live: LiveSnapshot


def describe(config: Config, camera: CameraConfig, live: LiveSnapshot) -> dict[str, Any]:
    """One camera as the API shows it; never its URL (it carries the camera password)."""
    state = live.paths.get(camera.id, PathState(False, 0, 0))
    return {
        "id": camera.id,
        "name": camera.name,
        "urls": stream_urls(config, camera.id),
        "live": {
            "state": live_word(state.available, state.readers, config.livestream.on_demand),
            "available": state.available,
            "readers": state.readers,
            "inbound_bitrate_bps": state.inbound_bitrate_bps,
        },
    }


def _login(shared: Shared) -> ViewerAccount | Response:
    """The logged-in viewer, or the answer to send: 401 to ask again, 429 while throttled."""
    credentials = request.authorization
    if credentials is None or not credentials.username or credentials.password is None:
        return _challenge()
    verifier = shared.gatekeeper.verifier
    client = request.remote_addr or ""
    viewer = verifier.check(credentials.username, credentials.password, client)
    if viewer is not None:
        return viewer
    wait = verifier.throttle.wait_seconds(client, credentials.username)
    return too_many_logins(wait) if wait > 0 else _challenge()


def _challenge() -> Response:
    return login_challenge(REALM, "log in with a viewer account")


def _answer_mediamtx(shared: Shared) -> Response:
    if request.remote_addr not in LOOPBACK:
        log.warning("auth callback called from %s: refused (loopback only)", request.remote_addr)
        return Response(status=403)
    data = request.get_json(force=True, silent=True)
    if not isinstance(data, dict):
        # Not mediamtx's question (found by fuzzing: a bare number used to be a 500).
        return Response("the body must be a JSON object\n", status=400)
    question = AuthQuestion.from_json(data)
    if shared.gatekeeper.allows(question):
        return Response(status=200)
    if question.user:
        log.info(
            "denied user=%s action=%s path=%s protocol=%s ip=%s",
            question.user,
            question.action,
            question.path,
            question.protocol,
            question.ip,
        )
    return Response(status=401)


def create_app(current: Callable[[], Shared]) -> Flask:
    """The Flask app; `current` returns the latest config, gatekeeper and live state."""
    app = Flask("nvr.livestream")

    @app.post(AUTH_ROUTE)
    def mediamtx_auth() -> Response:
        return _answer_mediamtx(current())

    @app.errorhandler(LivestreamError)
    @app.errorhandler(ConfigError)  # no public host to put into the URLs
    def no_public_host(err: NvrError) -> Response:
        response = jsonify(error=str(err))
        response.status_code = 503
        return response

    @app.get("/api/streams")
    def streams() -> Response:
        shared = current()
        viewer = _login(shared)
        if isinstance(viewer, Response):
            return viewer
        cameras = [c for c in shared.config.enabled_cameras if viewer.may_watch(c.id)]
        return jsonify(
            mediamtx="up" if shared.live.mediamtx_up else "down",
            streams=[describe(shared.config, c, shared.live) for c in cameras],
        )

    @app.get("/api/streams/<camera_id>")
    def stream(camera_id: str) -> Response:
        shared = current()
        viewer = _login(shared)
        if isinstance(viewer, Response):
            return viewer
        camera = shared.config.camera(camera_id)
        if camera is None or not camera.enabled or not viewer.may_watch(camera_id):
            response = jsonify(error=f"no camera {camera_id!r} for this viewer")
            response.status_code = 404
            return response
        return jsonify(describe(shared.config, camera, shared.live))

    register_playback(app, current, _login)  # recorded video: docs/design/playback.md
    return app
