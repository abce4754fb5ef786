"""Recorded video by time: the playback API, HLS over the recorded files, the camera page.

In the shape of mediamtx's playback server (docs/design/playback.md says where we differ):
- `GET /list?path=<camera>&start=&end=`: the recorded spans (`start`, `duration`, `url`);
  with `&gaps=true` an object `{"spans": [...], "gaps": [...]}` with each gap's reason;
- `GET /get?path=<camera>&start=<RFC 3339>&duration=<s>&format=fmp4|mp4`: one
  stream-copied file of the range;
- `GET /hls/<camera>/index.m3u8?start=&duration=`: a VOD playlist pointing by byte range
  into the recorded files (`GET /hls/<camera>/<segment id>.mp4`, range requests);
- `GET /view/<camera>?at=`: the page with the timeline and the player;
- `GET /export?path=&start=&duration=`: the range as clips with signed manifests (zip);
- `POST /protect`: keep the shown range as evidence (viewers with `may_protect`).

Same viewer accounts, login throttle and TLS as the viewer API; a viewer not permitted the
camera gets 403 everywhere (docs/design/playback.md, invariant 4); a range without
recording 404 with its gaps.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any, Protocol

from flask import Flask, Response, jsonify, request, send_file

from nvr.core.config import Config
from nvr.core.config.viewers import ViewerAccount
from nvr.core.errors import NvrError
from nvr.core.identity import IdentityError
from nvr.core.protections import insert_protection
from nvr.core.recordings import coverage
from nvr.core.state import StateStore, now_ms
from nvr.core.timeutil import format_ms
from nvr.livestream.clip import (
    FileChunks,
    FragmentedClip,
    TempSpaceError,
    mp4_file,
    plan_clip,
)
from nvr.livestream.evidence import evidence_zip
from nvr.livestream.hls import playlist
from nvr.livestream.page import render_camera_page
from nvr.livestream.recorded import playable_segments, segment_by_id

log = logging.getLogger(__name__)

MAX_RANGE_SECONDS = 24 * 3600
DEFAULT_LIST_SECONDS = 24 * 3600
MAX_REASON_CHARS = 200
# Downloads (`/get`, `/export`) at once: each holds a server thread for as long as it
# lasts, so they may never take all of them (livestream's WSGI_THREADS): live view's
# logins (mediamtx's auth callback) and HLS need the rest (invariant 8).
MAX_CLIP_STREAMS = 8
_CLIP_SLOTS = threading.BoundedSemaphore(MAX_CLIP_STREAMS)
# Times outside these years are typing errors, and past 9999 not even printable.
EARLIEST_YEAR, LATEST_YEAR = 1970, 2200


class HasConfig(Protocol):
    """What playback needs of the viewer API's shared state."""

    @property
    def config(self) -> Config:
        """The daemon's current config."""


Login = Callable[[Any], ViewerAccount | Response]


class BadRequest(ValueError):
    """A query parameter is missing or malformed; the message names it."""


def _error(status: int, message: str, **extra: Any) -> Response:
    response = jsonify(error=message, **extra)
    response.status_code = status
    return response


def parse_rfc3339(name: str, text: str | None) -> int:
    """UTC milliseconds of an RFC 3339 time with an offset (`2026-11-21T08:00:00Z`)."""
    if not text:
        raise BadRequest(f"missing {name} (RFC 3339, e.g. 2026-11-21T08:00:00Z)")
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace(" ", "+"))
    except ValueError:
        raise BadRequest(f"{name}={text!r} is not an RFC 3339 time") from None
    if parsed.tzinfo is None:
        raise BadRequest(f"{name}={text!r} has no offset: add Z or +01:00")
    if not EARLIEST_YEAR <= parsed.year <= LATEST_YEAR:
        raise BadRequest(f"{name}={text!r} is out of range ({EARLIEST_YEAR}-{LATEST_YEAR})")
    return int(parsed.timestamp() * 1000)


def parse_seconds(name: str, text: str | None) -> int:
    """Milliseconds of a duration in seconds, within (0, 24 h]."""
    try:
        seconds = float(text or "")
    except ValueError:
        raise BadRequest(f"{name}={text!r} is not a number of seconds") from None
    if not 0 < seconds <= MAX_RANGE_SECONDS:
        raise BadRequest(f"{name} must be between 0 and {MAX_RANGE_SECONDS} seconds")
    return int(seconds * 1000)


class _Stores(threading.local):
    """One state store per server thread (sqlite connections stay in their thread)."""

    store: StateStore | None = None


_stores = _Stores()


def _store(config: Config) -> StateStore:
    store = _stores.store
    if store is None or store.path != config.storage.state_file:
        store = StateStore.open(config.storage.state_file)
        _stores.store = store
    return store


def _conn(config: Config) -> sqlite3.Connection:
    return _store(config).read()


def _gaps(config: Config, camera: str, from_ms: int, to_ms: int) -> list[dict[str, Any]]:
    return [g.to_json() for g in coverage(_conn(config), camera, from_ms, to_ms).gaps]


def _no_recording(config: Config, camera: str, from_ms: int, to_ms: int) -> Response:
    return _error(
        404,
        f"no recording of {camera} between {format_ms(from_ms)} and {format_ms(to_ms)}",
        gaps=_gaps(config, camera, from_ms, to_ms),
    )


class Playback:
    """The routes, bound to the daemon's current config and login."""

    def __init__(self, current: Callable[[], HasConfig], login: Login) -> None:
        self._current = current
        self._login = login

    # -- access ------------------------------------------------------------------------
    def _viewer_for(self, camera: str) -> tuple[Config, ViewerAccount] | Response:
        """The config and the viewer permitted `camera`, or the answer: 401/429, 403, 404.

        403 comes before 404 so a viewer cannot learn which camera ids exist.
        """
        shared = self._current()
        viewer = self._login(shared)
        if isinstance(viewer, Response):
            return viewer
        if not viewer.may_watch(camera):
            log.info("playback refused user=%s camera=%s: not permitted", viewer.user, camera)
            return _error(403, f"viewer {viewer.user} may not watch {camera!r}")
        if shared.config.camera(camera) is None:
            return _error(404, f"no camera {camera!r}")
        return shared.config, viewer

    # -- routes --------------------------------------------------------------------------
    def list_spans(self) -> Response:
        """`/list`: recorded spans (mediamtx's shape), gaps with `gaps=true`."""
        camera = request.args.get("path", "")
        access = self._viewer_for(camera)
        if isinstance(access, Response):
            return access
        config = access[0]
        end = request.args.get("end")
        to_ms = parse_rfc3339("end", end) if end else now_ms()
        start = request.args.get("start")
        from_ms = parse_rfc3339("start", start) if start else to_ms - DEFAULT_LIST_SECONDS * 1000
        result = coverage(_conn(config), camera, from_ms, to_ms)
        spans = _spans(camera, from_ms, to_ms, [(g.start_ms, g.end_ms) for g in result.gaps])
        gaps = [g.to_json() for g in result.gaps]
        if not spans:
            return _error(404, f"no recording of {camera} in this range", gaps=gaps)
        if request.args.get("gaps") == "true":
            return jsonify(spans=spans, gaps=gaps)
        return jsonify(spans)

    def get_clip(self) -> Response:
        """`/get`: the range as one stream-copied file, fMP4 streamed or plain MP4."""
        camera = request.args.get("path", "")
        access = self._viewer_for(camera)
        if isinstance(access, Response):
            return access
        config = access[0]
        from_ms = parse_rfc3339("start", request.args.get("start"))
        to_ms = from_ms + parse_seconds("duration", request.args.get("duration"))
        kind = request.args.get("format", "fmp4")
        if kind not in ("fmp4", "mp4"):
            raise BadRequest(f"format={kind!r}: use fmp4 or mp4")
        return _holding_slot(lambda: _clip(config, camera, from_ms, to_ms, kind))

    def export_evidence(self) -> Response:
        """`/export`: the range as clips with their signed manifests, in one zip."""
        camera = request.args.get("path", "")
        access = self._viewer_for(camera)
        if isinstance(access, Response):
            return access
        config = access[0]
        from_ms = parse_rfc3339("start", request.args.get("start"))
        to_ms = from_ms + parse_seconds("duration", request.args.get("duration"))
        return _holding_slot(lambda: _evidence(config, camera, from_ms, to_ms))

    def hls_playlist(self, camera: str) -> Response:
        """A VOD playlist of the range over the recorded files, by byte range."""
        access = self._viewer_for(camera)
        if isinstance(access, Response):
            return access
        config = access[0]
        from_ms = parse_rfc3339("start", request.args.get("start"))
        to_ms = from_ms + parse_seconds("duration", request.args.get("duration"))
        conn = _conn(config)
        segments = [
            s
            for s in playable_segments(conn, config.storage.recordings_dir, camera, from_ms, to_ms)
            if s.id  # the open segment grows: a VOD playlist lists closed files only
        ]
        text = playlist(config.storage.recordings_dir, segments, from_ms, to_ms)
        if text is None:
            return _no_recording(config, camera, from_ms, to_ms)
        return Response(text, mimetype="application/vnd.apple.mpegurl")

    def hls_file(self, camera: str, segment_id: int) -> Response:
        """One recorded file, for the playlist's byte ranges (Range requests answered)."""
        access = self._viewer_for(camera)
        if isinstance(access, Response):
            return access
        config = access[0]
        seg = segment_by_id(_conn(config), camera, segment_id)
        path = config.storage.recordings_dir / seg.path if seg else None
        if path is None or not path.is_file():
            log.info(
                "playback camera=%s segment=%d: gone (deleted by retention meanwhile)",
                camera,
                segment_id,
            )
            return _error(404, f"segment {segment_id} of {camera} is no longer recorded")
        kind = "video/mp2t" if path.suffix == ".ts" else "video/mp4"
        return send_file(path, mimetype=kind, conditional=True, max_age=3600)

    def camera_page(self, camera: str) -> Response | str:
        """The page: timeline, player at `at`, protect and download buttons."""
        access = self._viewer_for(camera)
        if isinstance(access, Response):
            return access
        config, viewer = access
        now = now_ms()
        at = request.args.get("at")
        at_ms = parse_rfc3339("at", at) if at else now - 3_600_000
        return render_camera_page(_conn(config), config, viewer, camera, at_ms, now)

    def protect(self) -> Response:
        """Keep [start, end] of a camera as evidence, as `nvrctl protect` does."""
        body = request.get_json(silent=True)
        form = body if isinstance(body, dict) else request.form
        camera = str(form.get("path", ""))
        access = self._viewer_for(camera)
        if isinstance(access, Response):
            return access
        config, viewer = access
        if not viewer.may_protect:
            log.info("protect refused user=%s camera=%s: no may_protect", viewer.user, camera)
            return _error(403, f"viewer {viewer.user} may not protect recordings")
        from_ms = parse_rfc3339("start", str(form.get("start", "")))
        to_ms = parse_rfc3339("end", str(form.get("end", "")))
        reason = str(form.get("reason", "")).strip()[:MAX_REASON_CHARS]
        if to_ms <= from_ms or not reason:
            raise BadRequest("protect needs start before end and a reason")
        with _store(config).write() as conn:
            protection_id, _ = insert_protection(
                conn,
                camera=camera,
                from_ms=from_ms,
                to_ms=to_ms,
                reason=f"{reason} (by viewer {viewer.user}, playback page)",
            )
        log.info(
            "protected #%d camera=%s %s .. %s by viewer user=%s",
            protection_id,
            camera,
            format_ms(from_ms),
            format_ms(to_ms),
            viewer.user,
        )
        return jsonify(id=protection_id, camera=camera, start=format_ms(from_ms),
                       end=format_ms(to_ms))  # fmt: skip


Body = FragmentedClip | FileChunks


class _Held:
    """A response body holding one clip slot until the WSGI server closes the response."""

    def __init__(self, body: Body) -> None:
        self._body = body
        self._held = True

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._body)

    def close(self) -> None:
        """Close the body (ffmpeg reaped, temporary file removed), free the slot."""
        try:
            self._body.close()
        finally:
            if self._held:
                self._held = False
                _CLIP_SLOTS.release()


def _holding_slot(make: Callable[[], Response | tuple[Body, str, dict[str, str]]]) -> Response:
    """Run `make` in one of the clip slots; 503 when all are taken (invariant 8)."""
    if not _CLIP_SLOTS.acquire(blocking=False):
        log.warning("playback: %d downloads running, one more refused", MAX_CLIP_STREAMS)
        response = _error(503, f"{MAX_CLIP_STREAMS} downloads are running: try again shortly")
        response.headers["Retry-After"] = "10"
        return response
    try:
        made = make()
    except BaseException:
        _CLIP_SLOTS.release()
        raise
    if isinstance(made, Response):
        _CLIP_SLOTS.release()
        return made
    body, mimetype, headers = made
    return Response(_Held(body), mimetype=mimetype, headers=headers)


def _clip(
    config: Config, camera: str, from_ms: int, to_ms: int, kind: str
) -> Response | tuple[Body, str, dict[str, str]]:
    """The body of `/get`, or the answer when there is nothing to send."""
    recordings = config.storage.recordings_dir
    segments = playable_segments(_conn(config), recordings, camera, from_ms, to_ms)
    if not segments:
        return _no_recording(config, camera, from_ms, to_ms)
    plan = plan_clip(camera, segments, from_ms, to_ms)
    name = f"{camera}-{format_ms(from_ms).replace(':', '-')}.mp4"
    headers = {
        "Content-Disposition": f'attachment; filename="{name}"',
        "X-Recorded-Seconds": f"{plan.duration_ms / 1000:.3f}",
    }
    if kind == "mp4":
        made = mp4_file(recordings, plan)  # TempSpaceError: 507
        if made is None:
            return _no_recording(config, camera, from_ms, to_ms)
        return FileChunks(made), "video/mp4", headers
    clip = FragmentedClip(recordings, plan)
    if not clip.first:
        return _no_recording(config, camera, from_ms, to_ms)
    return clip, "video/mp4", headers


def _evidence(
    config: Config, camera: str, from_ms: int, to_ms: int
) -> Response | tuple[Body, str, dict[str, str]]:
    """The body of `/export`, or the answer when it cannot be made."""
    try:
        archive = evidence_zip(config, camera, from_ms, to_ms)
    except TempSpaceError:
        raise  # 507, by the app's handler
    except IdentityError as err:
        log.error("evidence download camera=%s: %s", camera, err)
        return _error(503, str(err))
    except NvrError as err:  # nothing recorded, or ffmpeg could not export
        log.warning("evidence download camera=%s refused: %s", camera, err)
        return _error(404, str(err), gaps=_gaps(config, camera, from_ms, to_ms))
    name = f"{camera}-{format_ms(from_ms).replace(':', '-')}-evidence.zip"
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    return FileChunks(archive), "application/zip", headers


def _spans(
    camera: str, from_ms: int, to_ms: int, gaps: list[tuple[int, int]]
) -> list[dict[str, Any]]:
    """The recorded stretches of [from_ms, to_ms): the complement of the gaps."""
    spans: list[dict[str, Any]] = []
    cursor = from_ms
    for gap_start, gap_end in [*gaps, (to_ms, to_ms)]:
        if gap_start > cursor:
            seconds = (gap_start - cursor) / 1000
            start = format_ms(cursor)
            spans.append(
                {
                    "start": start,
                    "duration": seconds,
                    "url": f"/get?path={camera}&start={start}&duration={seconds:.3f}",
                }
            )
        cursor = max(cursor, gap_end)
    return spans


def register_playback(app: Flask, current: Callable[[], HasConfig], login: Login) -> None:
    """Add the playback routes to the viewer API's app."""
    routes = Playback(current, login)

    @app.errorhandler(BadRequest)
    def bad_request(err: BadRequest) -> Response:
        return _error(400, str(err))

    @app.errorhandler(TempSpaceError)
    def no_room(err: TempSpaceError) -> Response:
        log.warning("playback: %s", err)
        return _error(507, str(err))

    app.add_url_rule("/list", "playback_list", routes.list_spans)
    app.add_url_rule("/get", "playback_get", routes.get_clip)
    app.add_url_rule("/export", "playback_export", routes.export_evidence)
    app.add_url_rule("/hls/<camera>/index.m3u8", "playback_hls", routes.hls_playlist)
    app.add_url_rule("/hls/<camera>/<int:segment_id>.mp4", "playback_file", routes.hls_file)
    app.add_url_rule("/hls/<camera>/<int:segment_id>.ts", "playback_ts", routes.hls_file)
    app.add_url_rule("/view/<camera>", "playback_page", routes.camera_page)
    app.add_url_rule("/protect", "playback_protect", routes.protect, methods=["POST"])
