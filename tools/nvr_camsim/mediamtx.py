"""A private mediamtx instance for tests and the demo, on free loopback ports.

Only RTSP (over TCP) and the control API are enabled: RTMP, HLS, WebRTC, SRT and MoQ stay
off so that several instances (parallel test processes, the demo) never clash on their
default ports. mediamtx v1.20.1 facts this module relies on:
- `GET /v3/paths/list?itemsPerPage=N` answers `{"itemCount", "pageCount", "items": [...]}`;
  an item has `name`, `available` (a publisher is sending; `ready` is the deprecated
  alias), `online`, `source` (`{"type": "rtspSession", "id": ...}`), `tracks2`
  (`[{"codec": "H264", "codecProps": {"width", "height", "profile", "level"}}]`),
  `readers`, `inboundBytes` and `outboundBytes`. Paths without a publisher are not listed.
- A read of a path nobody publishes answers 404 Not Found (after authentication).
- With `authMethod: http`, the API, metrics and pprof must be in `authHTTPExclude`, or
  every API call would be sent to the auth callback too.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path
from threading import Event
from time import monotonic
from typing import Any
from urllib.parse import quote

import psutil
import requests
import yaml

from nvr.core.process import stop_process
from nvr.core.tools import require_tool
from nvr_camsim.auth import Authorizer, AuthServer
from nvr_camsim.errors import MediamtxError
from nvr_camsim.process import STOP_TIMEOUT_S, Started, pid_running, spawn

log = logging.getLogger(__name__)

# The first start of a freshly built binary on a loaded two-core box took over 15 s once
# (cold page cache, other test servers starting): 30 s costs nothing when all is well.
START_TIMEOUT_S = 30.0
API_POLL_S = 0.1
API_TIMEOUT_S = 2.0
PORT_ATTEMPTS = 3  # a free port picked by us may be taken before mediamtx binds it
CONFIG_NAME = "mediamtx.yml"
LOG_NAME = "mediamtx.log"
PID_NAME = "mediamtx.pid"
# Everything but streaming goes around the auth callback (only reachable on loopback).
HTTP_AUTH_EXCLUDE = [{"action": "api"}, {"action": "metrics"}, {"action": "pprof"}]
OPEN_USERS = [
    {
        "user": "any",
        "pass": "",
        "ips": [],
        "permissions": [{"action": "publish"}, {"action": "read"}, {"action": "playback"}],
    },
    {"user": "any", "pass": "", "ips": ["127.0.0.1", "::1"], "permissions": HTTP_AUTH_EXCLUDE},
]


class _PortClash(MediamtxError):
    """mediamtx could not bind one of its ports."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (it may be taken again before we use it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class MediamtxServer(Started):
    """mediamtx as a child process, configured by us, with RTSP and the API on loopback.

    `authorize` decides every publish and read through an `AuthServer` (mediamtx
    `authMethod: http`); without it anyone may publish and read. `paths` is mediamtx's
    `paths` section (default: any path, published by a client); `extra_config` overrides
    top-level keys last, e.g. to point `authHTTPAddress` at another service.
    """

    def __init__(
        self,
        run_dir: Path,
        *,
        authorize: Authorizer | None = None,
        paths: Mapping[str, Mapping[str, Any]] | None = None,
        extra_config: Mapping[str, Any] | None = None,
        rtsp_port: int = 0,
        host: str = "127.0.0.1",
        start_timeout: float = START_TIMEOUT_S,
    ) -> None:
        self.run_dir = Path(run_dir)
        self.host = host
        self._authorize = authorize
        self._paths = dict(paths) if paths is not None else {"all_others": {}}
        self._extra = dict(extra_config or {})
        self._wanted_rtsp_port = rtsp_port
        self._start_timeout = start_timeout
        self._auth: AuthServer | None = None
        self._proc: subprocess.Popen[str] | None = None
        self._closing = Event()
        self.rtsp_port = 0
        self.api_port = 0
        # Basic credentials for the API, when its auth callback asks for some.
        self.api_auth: tuple[str, str] | None = None

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        """Start mediamtx and return once its API answers; MediamtxError otherwise."""
        binary = require_tool("mediamtx")
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._closing.clear()
        self._stop_stale_instance()
        if self._authorize is not None and self._auth is None:
            self._auth = AuthServer(self._authorize)
            self._auth.start()
        try:
            self._start_with_free_ports(binary)
        except BaseException:
            self.stop()
            raise
        log.info(
            "mediamtx pid=%d rtsp=%s:%d api=%s", self.pid, self.host, self.rtsp_port, self.api_url
        )

    def _start_with_free_ports(self, binary: str) -> None:
        for attempt in range(1, PORT_ATTEMPTS + 1):
            self.rtsp_port = self._wanted_rtsp_port or free_port(self.host)
            self.api_port = free_port()
            self.config_path.write_text(yaml.safe_dump(self.config(), sort_keys=False))
            with open(self.log_path, "w") as log_file:
                self._proc = spawn(
                    [binary, str(self.config_path)], stdout=log_file, stderr=subprocess.STDOUT
                )
            # Our pid too: a later run must tell a crashed owner from a live one.
            (self.run_dir / PID_NAME).write_text(f"{self._proc.pid} {os.getpid()}\n")
            try:
                self._wait_for_api()
                return
            except _PortClash as err:
                self._stop_child()
                if self._wanted_rtsp_port or attempt == PORT_ATTEMPTS:
                    raise MediamtxError(
                        f"mediamtx could not bind its ports: {err}"
                        " (another mediamtx running? port 0 picks a free one)"
                    ) from err
                log.info("port clash on attempt %d, picking other ports", attempt)

    def _wait_for_api(self) -> None:
        deadline = monotonic() + self._start_timeout
        while monotonic() < deadline and not self._closing.is_set():
            assert self._proc is not None
            code = self._proc.poll()
            if code is not None:
                last = self._log_tail()
                if "address already in use" in last:
                    raise _PortClash(last)
                raise MediamtxError(f"mediamtx exited with code {code} at start: {last}")
            try:
                self.list_paths()
                return
            except MediamtxError:
                pass  # not listening yet
            self._closing.wait(API_POLL_S)
        raise MediamtxError(
            f"mediamtx API not answering on {self.api_url} after {self._start_timeout:.0f} s"
            f" (see {self.log_path})"
        )

    def stop(self) -> None:
        """Terminate mediamtx (wait, then kill) and the auth endpoint; safe to repeat."""
        self._closing.set()
        self._stop_child()
        if self._auth is not None:
            self._auth.stop()
            self._auth = None

    def _stop_child(self) -> None:
        if self._proc is not None:
            code = stop_process(self._proc, STOP_TIMEOUT_S)
            log.debug("mediamtx pid=%d exited with %d", self._proc.pid, code)
            self._proc = None
            (self.run_dir / PID_NAME).unlink(missing_ok=True)

    def _stop_stale_instance(self) -> None:
        """Refuse a run dir in use; stop a mediamtx whose owner was killed (it holds ports).

        mediamtx runs in its own session, so it outlives an owner killed with SIGKILL.
        """
        pid_file = self.run_dir / PID_NAME
        try:
            pid, owner = (int(word) for word in pid_file.read_text().split()[:2])
        except (OSError, ValueError):
            return
        if pid_running(owner):
            raise MediamtxError(f"{self.run_dir} is in use by pid {owner}: use another run dir")
        try:
            proc = psutil.Process(pid)
            if str(self.config_path) in proc.cmdline():  # else the pid was reused
                log.warning("stopping mediamtx pid=%d left running by a killed run", pid)
                _terminate(proc)
        except psutil.Error:
            pass  # already gone
        pid_file.unlink(missing_ok=True)

    # -- configuration -----------------------------------------------------------------

    def config(self) -> dict[str, Any]:
        """The mediamtx configuration for the current ports, as written to the run dir."""
        config: dict[str, Any] = {
            "logLevel": "info",
            "logDestinations": ["stdout"],
            "api": True,
            "apiAddress": f"127.0.0.1:{self.api_port}",
            "metrics": False,
            "pprof": False,
            "playback": False,
            "rtsp": True,
            # TCP only: UDP would need more ports per instance, and the NVR reads over TCP.
            "rtspTransports": ["tcp"],
            "rtspEncryption": "no",
            "rtspAddress": f"{self.host}:{self.rtsp_port}",
            "rtmp": False,
            "hls": False,
            "webrtc": False,
            "srt": False,
            "moq": False,
            "paths": self._paths,
            **self._auth_config(),
        }
        config.update(self._extra)
        return config

    def _auth_config(self) -> dict[str, Any]:
        if self._auth is None:
            return {"authMethod": "internal", "authInternalUsers": OPEN_USERS}
        return {
            "authMethod": "http",
            "authHTTPAddress": self._auth.url,
            "authHTTPExclude": HTTP_AUTH_EXCLUDE,
        }

    # -- what clients see ----------------------------------------------------------------

    @property
    def config_path(self) -> Path:
        """The YAML file mediamtx was started with."""
        return self.run_dir / CONFIG_NAME

    @property
    def log_path(self) -> Path:
        """The log of mediamtx (its stdout and stderr)."""
        return self.run_dir / LOG_NAME

    @property
    def pid(self) -> int | None:
        """The mediamtx pid while started."""
        return self._proc.pid if self._proc else None

    @property
    def running(self) -> bool:
        """True while the mediamtx child is alive."""
        return self._proc is not None and self._proc.poll() is None

    @property
    def api_url(self) -> str:
        """Base URL of the control API, e.g. http://127.0.0.1:41234."""
        return f"http://127.0.0.1:{self.api_port}"

    def rtsp_url(self, path: str, user: str | None = None, password: str | None = None) -> str:
        """rtsp://[user:password@]host:port/path for this server."""
        auth = ""
        if user is not None:
            auth = quote(user, safe="")
            if password is not None:
                auth += ":" + quote(password, safe="")
            auth += "@"
        return f"rtsp://{auth}{self.host}:{self.rtsp_port}/{path}"

    def api_get(self, endpoint: str) -> Any:
        """GET `endpoint` (e.g. "/v3/paths/list") and return the decoded JSON."""
        try:
            response = requests.get(
                self.api_url + endpoint, auth=self.api_auth, timeout=API_TIMEOUT_S
            )
            response.raise_for_status()
            return response.json()
        except (requests.RequestException, ValueError) as err:
            raise MediamtxError(f"mediamtx API {endpoint} failed: {err}") from err

    def list_paths(self) -> list[dict[str, Any]]:
        """The paths mediamtx has now (one per publisher or reader), from the API."""
        items = self.api_get("/v3/paths/list?itemsPerPage=10000").get("items") or []
        return list(items)

    def wait_available(
        self, paths: Iterable[str], timeout: float, stop: Event | None = None
    ) -> set[str]:
        """Wait until every path in `paths` has a publisher; returns those still missing.

        Returns early (with what is missing) when `stop` is set or the timeout passes.
        """
        wanted = set(paths)
        deadline = monotonic() + timeout
        pause = stop or Event()
        while True:
            try:
                missing = wanted - self.available_paths()
            except MediamtxError:
                missing = wanted
            if not missing or monotonic() >= deadline or pause.wait(API_POLL_S):
                return missing

    def available_paths(self) -> set[str]:
        """Names of the paths that have a publisher sending to them now."""
        return {item["name"] for item in self.list_paths() if item.get("available")}

    def _log_tail(self) -> str:
        """The line that says why mediamtx stopped: its last error, else its last line."""
        try:
            lines = self.log_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return "no log"
        errors = [line for line in lines if " ERR " in line]
        last = (errors or lines or ["no log"])[-1]
        # Drop mediamtx's own date and time: the message is what matters in one line.
        return re.sub(r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d ", "", last)


def _terminate(proc: psutil.Process) -> None:
    """Terminate a process that is not our child, then kill it if it lingers."""
    proc.terminate()
    try:
        proc.wait(STOP_TIMEOUT_S)
    except psutil.TimeoutExpired:
        proc.kill()
