"""Simulated IP cameras: one mediamtx, one looping ffmpeg publisher per camera, faults.

Each camera `camNN` is a mediamtx path with its own reader account (`admin` and a password
unique to the camera); the publishers use a separate account. Authentication goes through
a callback in this process (mediamtx `authMethod: http`), so the wrong_password fault is a
change of the password the camera accepts, while `camera_url` keeps the configured one, as
when somebody changes the password on a real camera. Readers already connected stay
connected, as on most cameras.

Picture faults swap the clip, which restarts only that camera's publisher. A supervisor
thread restarts publishers that die, within a restart budget.
"""

from __future__ import annotations

import hmac
import logging
import re
import secrets
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from threading import Event, RLock, Thread
from time import monotonic

from nvr.core.redact import register_secret
from nvr.core.tools import require_tool
from nvr_camsim.auth import AuthRequest
from nvr_camsim.clips import (
    DEFAULT_BITRATE,
    DEFAULT_HEIGHT,
    DEFAULT_WIDTH,
    ClipSpec,
    Variant,
    alternate_resolution,
    ensure_clip,
)
from nvr_camsim.errors import CamsimError, MediamtxError
from nvr_camsim.faults import Fault
from nvr_camsim.mediamtx import MediamtxServer
from nvr_camsim.process import Started
from nvr_camsim.publisher import Publisher

log = logging.getLogger(__name__)

CAMERA_USER = "admin"
PUBLISHER_USER = "camsim-publisher"
READY_TIMEOUT_S = 20.0
GONE_TIMEOUT_S = 5.0
POLL_S = 0.1
SUPERVISE_TICK_S = 1.0
# Restart budget per camera: past this many restarts per window, stop hammering.
RESTART_BUDGET = 5
RESTART_WINDOW_S = 60.0
CAMERA_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

_VARIANTS = {
    Fault.BLACK: Variant.BLACK,
    Fault.FROZEN: Variant.FROZEN,
    Fault.BLURRED: Variant.BLURRED,
    Fault.DARK: Variant.DARK,
}


def camera_ids(count: int) -> list[str]:
    """The ids of `count` cameras: cam01, cam02, ..."""
    return [f"cam{n:02d}" for n in range(1, count + 1)]


def session_limits(sessions: Mapping[str, int]) -> dict[str, dict[str, int]]:
    """Mediamtx paths: a reader limit (`maxReaders`) per limited camera, any other path open.

    Past the limit mediamtx refuses the session, as a single-session camera does.
    """
    paths: dict[str, dict[str, int]] = {cid: {"maxReaders": n} for cid, n in sessions.items()}
    return {**paths, "all_others": {}}


def new_password() -> str:
    """A random password that needs no escaping in a URL."""
    return secrets.token_urlsafe(9)


@dataclass(frozen=True)
class CameraStatus:
    """What one simulated camera is doing now."""

    id: str
    url: str  # with the configured password: what an NVR would be configured with
    fault: Fault | None
    publisher_pid: int | None


@dataclass
class _Camera:
    id: str
    password: str  # the password in the camera's URL
    fault: Fault | None = None
    accepted_password: str = ""  # what it accepts now; differs under wrong_password
    publisher: Publisher | None = None
    restarts: deque[float] = field(default_factory=deque)
    degraded: bool = False


class CameraSimulator(Started):
    """N simulated RTSP cameras with switchable faults; use as a context manager."""

    def __init__(
        self,
        run_dir: Path,
        cameras: int | Sequence[str] = 4,
        *,
        width: int = DEFAULT_WIDTH,
        height: int = DEFAULT_HEIGHT,
        bitrate: int = DEFAULT_BITRATE,
        faults: Mapping[str, Fault | None] | None = None,
        passwords: Mapping[str, str] | None = None,
        rtsp_port: int = 0,
        cache_dir: Path | None = None,
        sessions: Mapping[str, int] | None = None,
    ) -> None:
        """`sessions` limits how many readers a camera serves at once (cheap cameras: 1)."""
        ids = camera_ids(cameras) if isinstance(cameras, int) else list(cameras)
        self._check_ids(ids)
        self.run_dir = Path(run_dir)
        self.width, self.height, self.bitrate = width, height, bitrate
        self._cache_dir = cache_dir
        self._lock = RLock()
        self._stopping = Event()
        self._supervisor: Thread | None = None
        self._server_down_logged = False
        self._started = False
        self._publisher_password = new_password()
        register_secret(self._publisher_password)
        self._cameras: dict[str, _Camera] = {}
        for cid in ids:
            password = (passwords or {}).get(cid) or new_password()
            register_secret(password)
            self._cameras[cid] = _Camera(cid, password, accepted_password=password)
        for cid, fault in (faults or {}).items():
            self.set_fault(cid, fault)  # only recorded until start()
        self.server = MediamtxServer(
            self.run_dir,
            authorize=self._authorize,
            paths=session_limits(sessions or {}),
            rtsp_port=rtsp_port,
        )

    @staticmethod
    def _check_ids(ids: list[str]) -> None:
        if not ids:
            raise CamsimError("no cameras to simulate")
        bad = [cid for cid in ids if not CAMERA_ID.match(cid)]
        if bad or len(set(ids)) != len(ids):
            raise CamsimError(f"bad or duplicate camera ids: {', '.join(bad) or ids}")

    def _camera(self, camera_id: str) -> _Camera:
        try:
            return self._cameras[camera_id]
        except KeyError:
            known = ", ".join(self._cameras)
            raise CamsimError(f"unknown camera {camera_id!r} (cameras: {known})") from None

    # -- lifecycle ---------------------------------------------------------------------

    def start(self, ready_timeout: float = READY_TIMEOUT_S) -> None:
        """Encode missing clips, start mediamtx and the publishers, wait until they publish."""
        if self._started:
            raise CamsimError("camera simulator already started")
        require_tool("ffmpeg")
        require_tool("mediamtx")
        self.prepare_clips(cam.fault for cam in self._cameras.values())
        self._stopping.clear()
        try:
            self.server.start()
            self._started = True
            with self._lock:
                for cam in self._cameras.values():
                    if cam.fault is not Fault.OFFLINE:
                        self._start_publisher(cam)
            self._supervisor = Thread(target=self._supervise, name="camsim-supervisor", daemon=True)
            self._supervisor.start()
            self.wait_ready(ready_timeout)
        except BaseException:
            self.stop()
            raise
        log.info(
            "%d simulated cameras on rtsp://%s:%d",
            len(self._cameras),
            self.server.host,
            self.server.rtsp_port,
        )

    def stop(self) -> None:
        """Stop the supervisor, the publishers, then mediamtx; safe to call twice."""
        self._stopping.set()
        self._started = False
        if self._supervisor is not None:
            self._supervisor.join(10.0)
            self._supervisor = None
        with self._lock:
            for cam in self._cameras.values():
                self._stop_publisher(cam)
        self.server.stop()

    # -- clips and publishers -------------------------------------------------------------

    def clip_spec(self, fault: Fault | None) -> ClipSpec:
        """The clip a camera with `fault` publishes."""
        if fault is Fault.WRONG_RESOLUTION:
            width, height = alternate_resolution(self.width, self.height)
            return ClipSpec(Variant.NORMAL, width, height, self.bitrate)
        variant = _VARIANTS.get(fault, Variant.NORMAL) if fault else Variant.NORMAL
        return ClipSpec(variant, self.width, self.height, self.bitrate)

    def prepare_clips(self, faults: Iterable[Fault | None] | None = None) -> None:
        """Encode the clips for `faults` now (default: every fault), so switching is quick."""
        wanted = [*Fault, None] if faults is None else [*faults, None]
        for spec in {self.clip_spec(fault) for fault in wanted}:
            ensure_clip(spec, self._cache_dir)

    def _start_publisher(self, cam: _Camera) -> None:
        clip = ensure_clip(self.clip_spec(cam.fault), self._cache_dir)
        url = self.server.rtsp_url(cam.id, PUBLISHER_USER, self._publisher_password)
        publisher = Publisher(cam.id, clip, url, require_tool("ffmpeg"))
        publisher.start()
        # Only a started publisher is shown: a reader never sees a camera without a pid
        # between the old publisher's death and the new one's start.
        cam.publisher = publisher

    def _stop_publisher(self, cam: _Camera) -> None:
        if cam.publisher is not None:
            cam.publisher.stop()
            cam.publisher = None

    # -- faults --------------------------------------------------------------------------

    def set_fault(
        self, camera_id: str, fault: Fault | None, timeout: float = READY_TIMEOUT_S
    ) -> None:
        """Switch one camera's fault (None clears it) and wait until it shows.

        Only this camera's publisher is restarted, and only when its clip changes or it
        goes offline or comes back.
        """
        with self._lock:
            cam = self._camera(camera_id)
            old = cam.fault
            if fault == old:
                return
            cam.fault = fault
            cam.accepted_password = (
                new_password() if fault is Fault.WRONG_PASSWORD else cam.password
            )
            if not self._started:
                return  # recorded; start() applies it
            restart = Fault.OFFLINE in (old, fault) or self.clip_spec(old) != self.clip_spec(fault)
            if restart:
                self._stop_publisher(cam)
                # So that a reader right after set_fault sees the new state, not the old one.
                self._wait_gone(camera_id)
                if fault is not Fault.OFFLINE:
                    self._start_publisher(cam)
        log.info("camera=%s fault %s -> %s", camera_id, old or "none", fault or "none")
        if fault is not Fault.OFFLINE:
            self.wait_ready(timeout, [camera_id])

    def fault(self, camera_id: str) -> Fault | None:
        """The fault a camera shows now."""
        return self._camera(camera_id).fault

    def _authorize(self, request: AuthRequest) -> bool:
        """Answer mediamtx: may this user publish or read this path.

        Deliberately lock-free (attribute reads are atomic): set_fault holds the lock while
        a publisher restarts, and that publisher's own publish request comes through here.
        """
        if request.action == "publish":
            return request.user == PUBLISHER_USER and _same(
                request.password, self._publisher_password
            )
        cam = self._cameras.get(request.path)
        if request.action != "read" or cam is None:
            return False
        return request.user == CAMERA_USER and _same(request.password, cam.accepted_password)

    # -- readiness -----------------------------------------------------------------------

    def wait_ready(
        self, timeout: float = READY_TIMEOUT_S, cameras: Iterable[str] | None = None
    ) -> None:
        """Wait until every camera not offline is published (mediamtx `available`)."""
        ids = list(cameras) if cameras is not None else list(self._cameras)
        wanted = {cid for cid in ids if self._camera(cid).fault is not Fault.OFFLINE}
        missing = self.server.wait_available(wanted, timeout, self._stopping)
        if self._stopping.is_set():
            raise CamsimError("camera simulator stopped while waiting for cameras")
        if missing:
            raise CamsimError(
                f"cameras not publishing after {timeout:.0f} s: {self._explain(missing)}"
            )

    def _wait_gone(self, camera_id: str) -> None:
        deadline = monotonic() + GONE_TIMEOUT_S
        while monotonic() < deadline:
            try:
                if camera_id not in self.server.available_paths():
                    return
            except MediamtxError:
                return  # mediamtx is down: the camera is gone too
            if self._stopping.wait(POLL_S):
                return

    def _explain(self, missing: set[str]) -> str:
        parts = []
        for cid in sorted(missing):
            pub = self._cameras[cid].publisher
            tail = pub.tail()[-1:] if pub is not None else []
            parts.append(f"{cid} ({tail[0]})" if tail else cid)
        return ", ".join(parts)

    # -- supervision ---------------------------------------------------------------------

    def _supervise(self) -> None:
        """Restart publishers that die; say once when mediamtx itself has gone."""
        while not self._stopping.wait(SUPERVISE_TICK_S):
            if not self.server.running:
                if not self._server_down_logged:
                    log.error(
                        "mediamtx exited: all cameras are down (see %s)", self.server.log_path
                    )
                    self._server_down_logged = True
                continue
            with self._lock:
                for cam in self._cameras.values():
                    try:
                        self._check_publisher(cam)
                    except Exception:
                        # One camera's trouble (a clip gone from the cache, ...) must not
                        # end the supervision of the others.
                        log.exception("camera=%s could not be restarted", cam.id)

    def _check_publisher(self, cam: _Camera) -> None:
        pub = cam.publisher
        if pub is None or cam.fault is Fault.OFFLINE or self._stopping.is_set():
            return
        code = pub.exit_code()
        if code is None:
            return
        now = monotonic()
        while cam.restarts and now - cam.restarts[0] > RESTART_WINDOW_S:
            cam.restarts.popleft()
        if len(cam.restarts) >= RESTART_BUDGET:
            if not cam.degraded:
                log.error(
                    "camera=%s degraded: publisher died %d times in %.0f s, pausing restarts",
                    cam.id,
                    len(cam.restarts),
                    RESTART_WINDOW_S,
                )
                cam.degraded = True
            return
        if cam.degraded:
            log.info("camera=%s restart budget available again: retrying", cam.id)
            cam.degraded = False
        last = " | ".join(pub.tail()[-3:]) or "no output"
        log.warning("camera=%s publisher exited with code %d, restarting: %s", cam.id, code, last)
        cam.restarts.append(now)
        self._start_publisher(cam)

    # -- what clients see ----------------------------------------------------------------

    @property
    def camera_ids(self) -> list[str]:
        """The camera ids, in order."""
        return list(self._cameras)

    def camera_url(self, camera_id: str) -> str:
        """rtsp://admin:<password>@127.0.0.1:<port>/<camera_id>, as an NVR is configured."""
        cam = self._camera(camera_id)
        if not self.server.rtsp_port:
            raise CamsimError("camera simulator not started: no RTSP port yet")
        return self.server.rtsp_url(cam.id, CAMERA_USER, cam.password)

    def password(self, camera_id: str) -> str:
        """The camera's configured password (the one in its URL)."""
        return self._camera(camera_id).password

    def publisher_pid(self, camera_id: str) -> int | None:
        """The pid of the camera's ffmpeg publisher, None while offline."""
        pub = self._camera(camera_id).publisher
        return pub.pid if pub is not None else None

    @property
    def cameras(self) -> list[CameraStatus]:
        """Every camera's id, URL, fault and publisher pid."""
        with self._lock:
            return [
                CameraStatus(cid, self.camera_url(cid), cam.fault, self.publisher_pid(cid))
                for cid, cam in self._cameras.items()
            ]


def _same(given: str, expected: str) -> bool:
    """Constant-time comparison that also accepts non-ASCII passwords."""
    return hmac.compare_digest(given.encode(), expected.encode())
