"""The HTTP and WebSocket server on hse.listen (aiohttp, in a thread with its own loop).

- `GET /api/health`: a cheap answer for the backend's latency check.
- `GET /api/cameras`: the video sources for the backend's sync-cameras.
- `GET /alarm/` (WebSocket): alarm messages, replayed from `?since=<id>`, then live.
- `POST /api/events`: the site's ingest API.
- `GET /alarm-images/<name>`: alarm pictures (unguessable names, no token).
- `GET /webrtc/<camera>`: a redirect to the camera's WebRTC page on mediamtx.

One port for all of it, as the backend's AI-box registry expects (api_url, alarm_ws_url,
webrtc_url on :2323). Every state file access runs in one worker thread with its own
connection; the loop never waits on SQLite. See docs/design/hse.md.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import hmac
import json
import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import WSMsgType, web

from nvr import __version__
from nvr.core import alarms
from nvr.core.config import Config
from nvr.core.config.hse import HseConfig
from nvr.core.config.served import plain_exposure
from nvr.core.errors import ConfigError, NvrError
from nvr.core.httpserve import Endpoint, ServeError, endpoints, server_context, split_listen
from nvr.core.redact import Secret
from nvr.core.state import StateStore, now_ms
from nvr.core.tables.recordings import latest_segment
from nvr.core.viewer_urls import hse_urls, stream_urls
from nvr.hse.constants import (
    INGEST_MAX_BODY_BYTES,
    PUSH_POLL_SECONDS,
    WS_HEARTBEAT_SECONDS,
)
from nvr.hse.errors import ListenError
from nvr.hse.ingest import BadField, RateLimit, decode, parse, store_posted
from nvr.hse.snapshot import images_dir

log = logging.getLogger(__name__)

T = TypeVar("T")
START_TIMEOUT_SECONDS = 15.0
STOP_TIMEOUT_SECONDS = 10.0
# A camera whose newest segment ended longer ago than this many segment lengths (plus
# the slack) is reported as not recording (the rule nvr-health uses: docs/design/health.md).
RECORDING_STALE_SEGMENTS = 2
RECORDING_STALE_SLACK_MS = 30_000
RECORDING_STALE_FLOOR_MS = 120_000
# The largest id an AUTOINCREMENT row can have (SQLite's signed 64-bit integer).
MAX_MESSAGE_ID = 2**63 - 1


def token_of(request: web.Request) -> str | None:
    """The token a request carries: `Authorization: Bearer`, else `?token=`."""
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return header[len("Bearer ") :].strip()
    return request.query.get("token")


def token_ok(given: str | None, expected: Secret) -> bool:
    """Constant-time comparison; never logged.

    aiohttp hands over a header's non-UTF-8 bytes as surrogates: they are encoded back
    as they came (a plain encode() raised, and the request got a 500).
    """
    if given is None:
        return False
    return hmac.compare_digest(given.encode("utf-8", "surrogateescape"), expected.reveal().encode())


def message_id(text: str) -> int:
    """`?since=`: a message id, which SQLite holds in 64 bits (a larger one raised there)."""
    try:
        value = int(text)
    except ValueError:
        raise BadField("since", "must be a message id (an integer)") from None
    if not 0 <= value <= MAX_MESSAGE_ID:
        raise BadField("since", f"must be a message id from 0 to {MAX_MESSAGE_ID}")
    return value


def _error(status: int, text: str, **extra: Any) -> web.Response:
    return web.json_response({"error": text, **extra}, status=status)


class _Db:
    """The state file, from one worker thread (sqlite3 connections stay in their thread)."""

    def __init__(self, state_file: Path) -> None:
        self._state_file = state_file
        self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="hse-db")
        self._store: StateStore | None = None

    async def run(self, action: Callable[[StateStore], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, self._call, action)

    def _call(self, action: Callable[[StateStore], T]) -> T:
        if self._store is None:
            self._store = StateStore.open(self._state_file)
        return action(self._store)

    def close(self) -> None:
        def close_store() -> None:
            if self._store is not None:
                self._store.close()

        self._pool.submit(close_store).result(STOP_TIMEOUT_SECONDS)
        self._pool.shutdown(wait=True)


class HseServer:
    """The aiohttp app on hse.listen, served from its own thread."""

    def __init__(self, config: Config) -> None:
        self.config = config  # swapped whole on reload; handlers read it once per request
        self._db = _Db(config.storage.state_file)
        section = self.settings
        self._limit = RateLimit(section.ingest_per_minute, section.ingest_burst)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._sockets: set[web.WebSocketResponse] = set()
        self.address = ""
        self.clients = 0

    @property
    def settings(self) -> HseConfig:
        """The hse section (the daemon only builds a server when there is one)."""
        assert self.config.hse is not None
        return self.config.hse

    # -- lifecycle -----------------------------------------------------------------------
    def start(self) -> None:
        """Bind listen (and tls_listen) and serve from a thread; ListenError (one line) if not.

        A plain listen beyond loopback without the operator's word is refused here (the
        config accepts it so that the other daemons keep running: HseConfig).
        """
        problem = plain_exposure(self.settings)
        if problem is not None:
            raise ListenError(f"hse.{problem}")
        ready = concurrent.futures.Future[str]()
        self._thread = threading.Thread(target=self._serve, args=(ready,), name="hse-http")
        self._thread.daemon = True
        self._thread.start()
        try:
            self.address = ready.result(START_TIMEOUT_SECONDS)
        except ServeError as err:
            raise ListenError(str(err)) from None

    def _serve(self, ready: concurrent.futures.Future[str]) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            address = loop.run_until_complete(self._bind())
        except ServeError as err:
            ready.set_exception(err)
            loop.close()
            return
        ready.set_result(address)
        loop.run_forever()
        loop.run_until_complete(self._unbind())
        loop.close()

    async def _bind(self) -> str:
        app = web.Application(client_max_size=INGEST_MAX_BODY_BYTES)
        app.add_routes(
            [
                web.get("/api/health", self._health),
                web.get("/api/cameras", self._cameras),
                web.get("/api/alarms", self._alarms),
                web.post("/api/events", self._ingest),
                web.get("/alarm", self._websocket),
                web.get("/alarm/", self._websocket),
                web.get("/alarm-images/{name}", self._image),
                web.get("/webrtc/{camera}", self._webrtc),
            ]
        )
        # No access log: a `?token=` in a request line must never reach a log file
        # (docs/design/hse.md, invariant 4).
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        urls = []
        try:
            for endpoint in endpoints(self.settings, "hse"):
                urls.append(await _serve_on(runner, endpoint))
        except ServeError:
            await runner.cleanup()
            raise
        self._runner = runner
        return " ".join(urls)

    async def _unbind(self) -> None:
        for ws in list(self._sockets):
            await ws.close(code=1001, message=b"box shutting down")
        if self._runner is not None:
            await self._runner.cleanup()

    def stop(self) -> None:
        """Close the sockets and the listener, and wait for the thread."""
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(STOP_TIMEOUT_SECONDS)
        self._db.close()

    # -- auth ----------------------------------------------------------------------------
    def _centre(self, request: web.Request) -> bool:
        return token_ok(token_of(request), self.settings.token)

    def _site_system(self, request: web.Request) -> bool:
        """The ingest token, or the centre's (it may post too)."""
        section = self.settings
        given = token_of(request)
        accepted = (section.token, section.ingest_token)
        return any(token_ok(given, token) for token in accepted if token is not None)

    # -- handlers ------------------------------------------------------------------------
    async def _health(self, request: web.Request) -> web.Response:
        if not self._centre(request):
            return _error(401, "token required")
        config = self.config
        return web.json_response(
            {
                "status": "ok",
                "site_id": config.site.id,
                "name": config.site.name,
                "version": __version__,
                "time": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
                "cameras": len(config.enabled_cameras),
                "urls": _registry_urls(config, self.settings),
            }
        )

    async def _cameras(self, request: web.Request) -> web.Response:
        if not self._centre(request):
            return _error(401, "token required")
        config = self.config
        try:
            recording = await self._db.run(lambda store: recording_now(store, config))
            sources = [video_source(config, c.id, recording) for c in config.cameras]
        except NvrError as err:
            return _error(503, str(err))
        return web.json_response({"site_id": config.site.id, "video_sources": sources})

    async def _alarms(self, request: web.Request) -> web.Response:
        if not self._centre(request):
            return _error(401, "token required")
        try:
            since = message_id(request.query.get("since", "0"))
        except BadField as err:
            return _error(err.status, str(err), field=err.field)
        messages = await self._db.run(lambda store: self._replay(store, since))
        return web.json_response({"items": messages})

    def _replay(self, store: StateStore, after_id: int) -> list[dict[str, Any]]:
        section = self.settings
        oldest = now_ms() - section.replay_max_age_seconds * 1000
        return alarms.messages_after(store.read(), after_id, oldest, section.replay_max_messages)

    async def _image(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        path = images_dir(self.config.storage.state_file) / name
        if "/" in name or name.startswith(".") or not name.endswith(".jpg") or not path.is_file():
            return _error(404, "no such picture")
        return web.FileResponse(path, headers={"Content-Type": "image/jpeg"})

    async def _webrtc(self, request: web.Request) -> web.Response:
        camera = request.match_info["camera"]
        if self.config.camera(camera) is None:
            return _error(404, f"unknown camera {camera[:64]!r}")
        try:
            target = stream_urls(self.config, camera)["webrtc"]
        except NvrError as err:
            return _error(503, str(err))
        raise web.HTTPFound(target)

    async def _ingest(self, request: web.Request) -> web.Response:
        client = request.remote or "unknown"
        if not self._site_system(request):
            return _error(401, "token required")
        wait = self._limit.allow(client)
        if wait > 0:
            headers = {"Retry-After": str(max(1, round(wait)))}
            return web.json_response(
                {"error": "too many events from this client"}, status=429, headers=headers
            )
        try:
            raw = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return _error(413, f"body larger than {INGEST_MAX_BODY_BYTES} bytes", field="body")
        try:
            posted = parse(decode(raw), self.config, datetime.now(UTC))
        except BadField as err:
            return _error(err.status, str(err), field=err.field)
        event_id = await self._db.run(lambda store: store_posted(store, posted, client))
        return web.json_response({"id": event_id, "status": "accepted"}, status=201)

    # -- the alarm WebSocket -------------------------------------------------------------
    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        if not self._centre(request):
            # HTTP 401 at the upgrade: the client's connect() fails with the status.
            return _error(401, "token required")
        given = request.query.get("since")
        try:
            since = None if given is None else message_id(given)
        except BadField as err:
            return _error(err.status, str(err), field=err.field)
        ws = web.WebSocketResponse(heartbeat=WS_HEARTBEAT_SECONDS)
        await ws.prepare(request)
        self._sockets.add(ws)
        self.clients = len(self._sockets)
        log.info("alarm WebSocket: %s connected (since=%s)", request.remote, given or "saved")
        sender = asyncio.create_task(self._send_loop(ws, since))
        try:
            async for message in ws:
                if message.type == WSMsgType.ERROR:
                    break  # client messages are not used; reading keeps pings answered
        finally:
            sender.cancel()
            self._sockets.discard(ws)
            self.clients = len(self._sockets)
            log.info("alarm WebSocket: %s disconnected", request.remote)
        return ws

    async def _send_loop(self, ws: web.WebSocketResponse, since: int | None) -> None:
        """Replay from `since` (or the centre's saved cursor), then push as messages arrive."""
        cursor = await self._db.run(functools.partial(_start_cursor, since=since))
        while not ws.closed:
            messages = await self._db.run(functools.partial(self._replay, after_id=cursor))
            for message in messages:
                await ws.send_str(json.dumps(message, separators=(",", ":")))
                cursor = int(message["id"])
            if messages:
                await self._db.run(functools.partial(_save_ws_cursor, last_id=cursor))
            await asyncio.sleep(PUSH_POLL_SECONDS)


def _registry_urls(config: Config, section: HseConfig) -> dict[str, str] | None:
    """What to enter in the backend's ai_boxes row; None when the box's address is unknown."""
    try:
        return hse_urls(config, section)
    except ConfigError:
        return None  # a wildcard listen, no public_url, no default route: logged at start


async def _serve_on(runner: web.AppRunner, endpoint: Endpoint) -> str:
    """Bind one endpoint (TLS with the box's pair on tls_listen); its URL, or ServeError."""
    context = None if endpoint.cert is None else server_context(endpoint)
    host, port = split_listen(endpoint.listen)
    site = web.TCPSite(runner, host or None, port, shutdown_timeout=2.0, ssl_context=context)
    try:
        await site.start()
    except OSError as err:
        raise ServeError(f"{endpoint.key} {endpoint.listen}: {err.strerror or err}") from None
    # The config refuses port 0: this is the port bound.
    return f"{endpoint.scheme}://{host}:{port}"


def _start_cursor(store: StateStore, since: int | None) -> int:
    """Where a connection starts: after `since`, else after the last message sent to one.

    A first connection without `since` starts at the newest message (it gets what happens
    from now on). A cursor beyond the newest message (the state file was restored from a
    backup: ids went back) starts at the newest, or the client would hear nothing.
    """
    conn = store.read()
    newest = alarms.last_message_id(conn)
    wanted = since if since is not None else alarms.read_cursor(conn, alarms.WS_CURSOR)
    return newest if wanted is None else min(wanted, newest)


def _save_ws_cursor(store: StateStore, last_id: int) -> None:
    with store.write() as conn:
        current = alarms.read_cursor(conn, alarms.WS_CURSOR) or 0
        alarms.save_cursor(conn, alarms.WS_CURSOR, max(current, last_id))


def recording_now(store: StateStore, config: Config) -> dict[str, bool]:
    """Per camera: a segment closed recently (the rule nvr-health judges cameras by)."""
    segment_ms = config.recording.segment_seconds * 1000
    stale_ms = max(
        RECORDING_STALE_FLOOR_MS, RECORDING_STALE_SEGMENTS * segment_ms + RECORDING_STALE_SLACK_MS
    )
    now = now_ms()
    result: dict[str, bool] = {}
    for camera in config.cameras:
        segment = latest_segment(store.read(), camera.id)
        result[camera.id] = segment is not None and now - segment.end_ms <= stale_ms
    return result


def video_source(config: Config, camera_id: str, recording: dict[str, bool]) -> dict[str, Any]:
    """One camera as the backend's video_sources row: name, stream_name, url, is_active."""
    camera = config.camera(camera_id)
    assert camera is not None
    urls = stream_urls(config, camera.id)
    return {
        "id": camera.id,
        "name": camera.name or camera.id,
        "stream_name": camera.id,
        "url": urls["rtsp"],
        "is_active": camera.enabled,
        "recording": recording.get(camera.id, False),
        "urls": urls,
    }
