"""The whole suite on simulated cameras under supervisord, in one directory.

Used by `make demo` (fixed ports, run/demo/) and by the end-to-end tests (free ports, a
temporary directory, a small loop-mounted recordings filesystem). supervisord runs the
simulated cameras, mosquitto, the live-view mediamtx, the reference head-office receiver
(nvr-headoffice), optionally MinIO, and every nvr daemon with the same restart policy as
packaging/supervisord/nvr.conf, so the demo and the end-to-end tests exercise the same
supervision as a host without systemd (docs/design/appliance.md).

The camera URLs (with their generated passwords) are only known once the simulator runs,
so the nvr daemons start after it: supervisord starts the infrastructure, the stack waits
for camsim's cameras.json, writes nvr.yaml and then starts the `nvr` group.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import requests
import yaml

from nvr.core.errors import NvrError
from nvr.core.passwords import hash_password
from nvr.core.process import child_environment
from nvr.core.tools import require_tool
from nvr_camsim.control import CAMERAS_FILE
from nvr_camsim.mediamtx import free_port
from nvr_camsim.process import Started, pid_running
from nvr_demo.supervisor import ProgramSpec, render_supervisord

SITE_ID = "demo-01"
DAEMONS = (
    "nvr-backup",
    "nvr-hddmon",
    "nvr-validator",
    "nvr-livestream",
    "nvr-report",
    "nvr-uplink",
    "nvr-health",
)
GROUP = "nvr"
VIEWER_USER, VIEWER_PASSWORD = "demo", "demo-viewer"
MINIO_USER = "nvr-demo"
START_TIMEOUT_SECONDS = 180.0  # the first run encodes the camera clips
STOP_TIMEOUT_SECONDS = 90.0


class StackError(NvrError):
    """The stack could not start (one line: which part and why)."""


@dataclass(frozen=True)
class Ports:
    """Every listening port of the stack (loopback only)."""

    health: int = field(default_factory=free_port)
    livestream: int = field(default_factory=free_port)
    headoffice: int = field(default_factory=free_port)
    mqtt: int = field(default_factory=free_port)
    cameras_rtsp: int = field(default_factory=free_port)
    live_api: int = field(default_factory=free_port)
    live_rtsp: int = field(default_factory=free_port)
    live_hls: int = field(default_factory=free_port)
    live_webrtc: int = field(default_factory=free_port)
    live_webrtc_udp: int = field(default_factory=free_port)
    live_metrics: int = field(default_factory=free_port)
    minio: int = field(default_factory=free_port)
    minio_console: int = field(default_factory=free_port)

    @classmethod
    def fixed(cls, base: int) -> Ports:
        """Consecutive ports from `base`, so the printed URLs stay the same across runs."""
        return cls(*(base + i for i in range(len(fields(cls)))))


@dataclass(frozen=True)
class StackOptions:
    """What to run and how fast things happen (the tests speed everything up)."""

    cameras: int = 4
    resolution: str = "1280x720"
    bitrate: str = "2M"
    segment_seconds: int = 60
    status_interval_minutes: int = 5
    validation_interval_seconds: float = 120.0
    recordings_dir: Path | None = None  # default: <run dir>/recordings
    require_mount: bool = False
    disk: dict[str, Any] = field(default_factory=dict)  # overrides of the disk section
    uplink_retry_max_seconds: float = 60.0
    crash_hold_seconds: float = 60.0  # /health warns this long after a kill -9
    with_minio: bool = False
    ports: Ports = field(default_factory=Ports)
    # The live-view mediamtx config the box ships (etc/mediamtx/mediamtx.yml in a checkout,
    # /etc/mediamtx/mediamtx.yml on a box): named, not found relative to this file, which
    # may sit in any site-packages.
    live_mediamtx_config: Path = Path("etc/mediamtx/mediamtx.yml")


class Stack(Started):
    """One supervisord with everything under it; a context manager."""

    def __init__(self, run_dir: Path, options: StackOptions | None = None) -> None:
        self.run_dir = run_dir.absolute()
        self.options = options or StackOptions()
        self.ports = self.options.ports
        self.conf = self.run_dir / "supervisord.conf"
        self.socket = self.run_dir / "supervisor.sock"
        self.logs = self.run_dir / "logs"
        self.config_path = self.run_dir / "nvr.yaml"
        self.state_file = self.run_dir / "state" / "state.db"
        self.camsim_dir = self.run_dir / "camsim"
        self.recordings_dir = self.options.recordings_dir or self.run_dir / "recordings"
        self.proc: subprocess.Popen[bytes] | None = None

    # -- addresses -------------------------------------------------------------------------
    @property
    def health_url(self) -> str:
        """nvr-health: /health, /metrics and the status page at /."""
        return f"http://127.0.0.1:{self.ports.health}"

    @property
    def headoffice_url(self) -> str:
        """The reference head office: its page at /, its API under /api."""
        return f"http://127.0.0.1:{self.ports.headoffice}"

    @property
    def livestream_url(self) -> str:
        """nvr-livestream's viewer API (/api/streams, HTTP Basic)."""
        return f"http://127.0.0.1:{self.ports.livestream}"

    # -- life cycle ------------------------------------------------------------------------
    def start(self) -> None:
        """Start supervisord and the infrastructure, then the nvr daemons."""
        for tool in ("ffmpeg", "mediamtx", "mosquitto", "supervisord"):
            require_tool(tool)
        if self.options.with_minio:
            require_tool("minio")
        for directory in (self.logs, self.state_file.parent, self.recordings_dir):
            directory.mkdir(parents=True, exist_ok=True)
        self._write_infrastructure()
        with (self.logs / "supervisord.out").open("ab") as out:
            self.proc = subprocess.Popen(
                [require_tool("supervisord"), "--nodaemon", "--configuration", str(self.conf)],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self._environment(),
                start_new_session=True,  # Ctrl-C in a terminal reaches us, not supervisord
            )
        try:
            self._wait(self.socket.exists, "supervisord did not open its socket", 30)
            cameras = self._wait_for_cameras()
            self._write_nvr_config(cameras)
            self.ctl("start", f"{GROUP}:*")
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """SIGTERM supervisord: it stops every program (SIGTERM, then SIGKILL) and exits."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    # -- control ---------------------------------------------------------------------------
    def ctl(self, *args: str) -> str:
        """Run supervisorctl against this stack; returns its output."""
        done = subprocess.run(
            ["supervisorctl", "--configuration", str(self.conf), *args],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        return done.stdout + done.stderr

    @staticmethod
    def program(name: str) -> str:
        """Supervisorctl's name of a program: `nvr:nvr-backup` for the daemons."""
        return f"{GROUP}:{name}" if name in DAEMONS else name

    def pid(self, name: str) -> int:
        """The pid supervisord reports for a program (0 when not running)."""
        text = self.ctl("pid", self.program(name)).strip()
        return int(text) if text.isdigit() else 0

    def kill(self, name: str) -> int:
        """SIGKILL a program's process, as a crash would; returns the pid killed."""
        pid = self.pid(name)
        if pid <= 0:
            raise StackError(f"{name} is not running")
        os.kill(pid, signal.SIGKILL)
        return pid

    def set_fault(self, camera: str, fault: str | None) -> None:
        """Switch a simulated camera's fault (`offline`, `black`, ...; None clears it)."""
        subprocess.run(
            [
                sys.executable,
                "-m",
                "nvr_camsim",
                "fault",
                camera,
                fault or "none",
                "--run-dir",
                str(self.camsim_dir),
            ],
            check=True,
            capture_output=True,
            timeout=60,
            env=self._environment(),
        )

    def camera_ids(self) -> list[str]:
        """The simulated cameras' ids."""
        return [f"cam{i:02d}" for i in range(1, self.options.cameras + 1)]

    # -- files -----------------------------------------------------------------------------
    def _environment(self) -> dict[str, str]:
        env = child_environment()
        env.pop("JOURNAL_STREAM", None)  # plain log lines in the files, not journald's
        # The daemons find mediamtx (and the tests MinIO) where the Makefile built them.
        env["NVR_MEDIAMTX_BIN"] = require_tool("mediamtx")
        return env

    def _secret(self, name: str) -> Path:
        """A secret file under secrets/ (mode 0600), created once and kept across runs."""
        path = self.run_dir / "secrets" / name
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            path.write_text(secrets.token_urlsafe(24) + "\n")
            path.chmod(0o600)
        return path

    def _write_infrastructure(self) -> None:
        ports, opts = self.ports, self.options
        python = sys.executable
        (self.run_dir / "mosquitto.conf").write_text(
            f"listener {ports.mqtt} 127.0.0.1\nallow_anonymous true\npersistence false\n"
            "log_dest stdout\n"
        )
        live = self.run_dir / "mediamtx.yml"
        live.write_text(yaml.safe_dump(self._live_mediamtx_config(), sort_keys=False))
        headoffice = self.run_dir / "headoffice"
        headoffice.mkdir(exist_ok=True)
        sites = {"sites": {SITE_ID: {"secret_file": str(self._secret("headoffice.key"))}}}
        (headoffice / "sites.yaml").write_text(yaml.safe_dump(sites))
        programs = [
            ProgramSpec(
                "camsim",
                [
                    python,
                    "-m",
                    "nvr_camsim",
                    "--cameras",
                    str(opts.cameras),
                    "--resolution",
                    opts.resolution,
                    "--bitrate",
                    opts.bitrate,
                    "--run-dir",
                    str(self.camsim_dir),
                    "--rtsp-port",
                    str(ports.cameras_rtsp),
                ],
            ),
            ProgramSpec(
                "mosquitto", [require_tool("mosquitto"), "-c", str(self.run_dir / "mosquitto.conf")]
            ),
            ProgramSpec("mediamtx", [require_tool("mediamtx"), str(live)]),
            ProgramSpec(
                "headoffice",
                [
                    python,
                    "-m",
                    "nvr_headoffice.main",
                    "--listen",
                    f"127.0.0.1:{ports.headoffice}",
                    "--database",
                    str(headoffice / "reports.db"),
                    "--sites",
                    str(headoffice / "sites.yaml"),
                ],
            ),
        ]
        if opts.with_minio:
            programs.append(self._minio_program())
        daemons = [
            ProgramSpec(
                name,
                [
                    python,
                    "-m",
                    f"nvr.{name.removeprefix('nvr-')}.main",
                    "--config",
                    str(self.config_path),
                ],
                group=GROUP,
            )
            for name in DAEMONS
        ]
        self.conf.write_text(
            render_supervisord(self.run_dir, self.socket, self.logs, programs, daemons)
        )

    def _minio_program(self) -> ProgramSpec:
        data = self.run_dir / "minio"
        data.mkdir(exist_ok=True)
        return ProgramSpec(
            "minio",
            [
                require_tool("minio"),
                "server",
                str(data),
                "--address",
                f"127.0.0.1:{self.ports.minio}",
                "--console-address",
                f"127.0.0.1:{self.ports.minio_console}",
            ],
            environment={
                "MINIO_ROOT_USER": MINIO_USER,
                "MINIO_ROOT_PASSWORD": self._secret("minio.key").read_text().strip(),
            },
        )

    def _live_mediamtx_config(self) -> dict[str, Any]:
        """The shipped live-view mediamtx config with the stack's ports."""
        ports, template = self.ports, self.options.live_mediamtx_config
        try:
            config: dict[str, Any] = yaml.safe_load(template.read_text())
        except OSError as err:
            raise StackError(
                f"live-view mediamtx config {template}: {err.strerror} (run from the checkout, "
                "or pass --mediamtx-config)"
            ) from None
        config.update(
            {
                "authHTTPAddress": f"http://127.0.0.1:{ports.livestream}/mediamtx/auth",
                "apiAddress": f"127.0.0.1:{ports.live_api}",
                "metricsAddress": f"127.0.0.1:{ports.live_metrics}",
                "rtspAddress": f"127.0.0.1:{ports.live_rtsp}",
                "hlsAddress": f"127.0.0.1:{ports.live_hls}",
                "webrtcAddress": f"127.0.0.1:{ports.live_webrtc}",
                "webrtcLocalUDPAddress": f"127.0.0.1:{ports.live_webrtc_udp}",
            }
        )
        return config

    def _wait_for_cameras(self) -> list[dict[str, Any]]:
        path = self.camsim_dir / CAMERAS_FILE

        def ready() -> bool:
            try:
                document = json.loads(path.read_text())
            except (OSError, ValueError):
                return False
            return (
                pid_running(document.get("pid"))
                and len(document["cameras"]) == self.options.cameras
            )

        self._wait(
            ready,
            f"the simulated cameras did not start (see {self.logs}/camsim.log)",
            START_TIMEOUT_SECONDS,
        )
        cameras: list[dict[str, Any]] = json.loads(path.read_text())["cameras"]
        return cameras

    def _write_nvr_config(self, cameras: list[dict[str, Any]]) -> None:
        opts, ports = self.options, self.ports
        uplink: dict[str, Any] = {
            "retry_initial_seconds": 1.0,
            "retry_max_seconds": opts.uplink_retry_max_seconds,
            "circuit_open_seconds": min(60.0, opts.uplink_retry_max_seconds),
            "head_office": {
                "url": f"{self.headoffice_url}/api/nvr/reports",
                "secret_file": str(self._secret("headoffice.key")),
            },
            "mqtt": {
                "host": "127.0.0.1",
                "port": ports.mqtt,
                "tls": False,
                "status_interval_seconds": 30,
            },
        }
        if opts.with_minio:
            uplink["minio"] = {
                "endpoint": f"127.0.0.1:{ports.minio}",
                "access_key": MINIO_USER,
                "secret_key_file": str(self._secret("minio.key")),
                "secure": False,
            }
        config = {
            "site": {"id": SITE_ID, "name": "Demo site"},
            "storage": {
                "recordings_dir": str(self.recordings_dir),
                "state_file": str(self.state_file),
                "require_mount": opts.require_mount,
            },
            "recording": {"segment_seconds": opts.segment_seconds},
            "disk": {"check_interval_seconds": 10, **opts.disk},
            "validation": {"interval_seconds": opts.validation_interval_seconds},
            "livestream": {
                "listen": f"127.0.0.1:{ports.livestream}",
                "mediamtx_api": f"http://127.0.0.1:{ports.live_api}",
                "public_host": "127.0.0.1",  # the demo serves loopback only
                "rtsp_port": ports.live_rtsp,
                "hls_port": ports.live_hls,
                "webrtc_port": ports.live_webrtc,
                # The demo's mediamtx runs the shipped file as written: no TLS to promise.
                "media_tls": "off",
                "viewers": [
                    {
                        "user": VIEWER_USER,
                        "password_hash": hash_password(VIEWER_PASSWORD),
                        "cameras": "all",
                    }
                ],
            },
            "health": {
                "listen": f"127.0.0.1:{ports.health}",
                "daemons": list(DAEMONS),
                "page_refresh_seconds": 10,
                "crash_hold_seconds": opts.crash_hold_seconds,
            },
            "report": {
                "status_interval_minutes": opts.status_interval_minutes,
                "event_coalesce_seconds": 60,
            },
            "uplink": uplink,
            "cameras": [
                {
                    "id": cam["id"],
                    "name": f"Simulated camera {cam['id'][-2:]}",
                    "url": cam["url"],
                    # With MinIO, the first camera shows the offsite copy at work.
                    "offsite_copy": opts.with_minio and index == 0,
                }
                for index, cam in enumerate(cameras)
            ],
        }
        self.config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        self.config_path.chmod(0o600)  # camera passwords

    @staticmethod
    def _wait(predicate: Any, message: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise StackError(message)
            time.sleep(0.2)

    # -- looking ---------------------------------------------------------------------------
    def health(self) -> int:
        """/health's status code; 0 when nvr-health does not answer."""
        try:
            return requests.get(f"{self.health_url}/health", timeout=5).status_code
        except requests.RequestException:
            return 0
