"""Harness for nvr-livestream run for real: the daemon, the proxy mediamtx, viewers.

Topology: the camera simulator's mediamtx plays the cameras; a second mediamtx plays the
appliance's proxy (RTSP, HLS, WebRTC and the API on fixed free ports, `authMethod: http`
pointing at the daemon); nvr-livestream runs as a child process with its own config.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
import yaml

from nvr.cli import tls_cmd
from nvr.core.config import load_config
from nvr.core.tools import require_tool
from nvr.livestream.constants import MEDIAMTX_API_USER
from nvr.livestream.mediamtx_tls import CERT_CREDENTIAL, KEY_CREDENTIAL, render
from nvr_camsim import CameraSimulator, MediamtxServer
from nvr_camsim.mediamtx import free_port
from nvrtest import Child, NotifySocket, query_state, wait_until

ALICE, ALICE_PW = "alice", "alice-watches-all-9"
BOB, BOB_PW = "bob", "bob-sees-cam02-only"
PROBE_TIMEOUT_S = 60
API_SECRET = "mediamtx-api-secret-7e1f0c"
SHIPPED_MEDIAMTX = Path(__file__).parents[2] / "etc" / "mediamtx" / "mediamtx.yml"


@dataclass
class Ports:
    """The proxy's ports, fixed so a restarted mediamtx comes back at the same address."""

    api: int = field(default_factory=free_port)
    rtsp: int = field(default_factory=free_port)
    hls: int = field(default_factory=free_port)
    webrtc: int = field(default_factory=free_port)
    webrtc_udp: int = field(default_factory=free_port)
    metrics: int = field(default_factory=free_port)
    listen: int = field(default_factory=free_port)
    rtsps: int = field(default_factory=free_port)


class ProxyMediamtx(MediamtxServer):
    """The appliance's mediamtx: the shipped config file, with free ports substituted."""

    def __init__(self, run_dir: Path, ports: Ports) -> None:
        self.ports = ports
        # Set for media_tls: renders the config as `nvrctl mediamtx config` does on a box.
        self.render: Callable[[dict[str, Any]], dict[str, Any]] | None = None
        super().__init__(run_dir, rtsp_port=ports.rtsp)

    def config(self) -> dict[str, Any]:
        """etc/mediamtx/mediamtx.yml with test ports (the API port fixed across restarts)."""
        self.api_port = self.ports.api
        config: dict[str, Any] = yaml.safe_load(SHIPPED_MEDIAMTX.read_text())
        config.update(
            {
                "authHTTPAddress": f"http://127.0.0.1:{self.ports.listen}/mediamtx/auth",
                "apiAddress": f"127.0.0.1:{self.ports.api}",
                "metricsAddress": f"127.0.0.1:{self.ports.metrics}",
                "rtspAddress": f"127.0.0.1:{self.ports.rtsp}",
                "hlsAddress": f"127.0.0.1:{self.ports.hls}",
                "webrtcAddress": f"127.0.0.1:{self.ports.webrtc}",
                "webrtcLocalUDPAddress": f"127.0.0.1:{self.ports.webrtc_udp}",
            }
        )
        return config if self.render is None else self.render(config)

    def kill(self) -> None:
        """SIGKILL mediamtx, as a crash would, and reap it."""
        assert self.pid is not None
        os.kill(self.pid, signal.SIGKILL)
        self.stop()

    def configured_paths(self) -> set[str]:
        items = self.api_get("/v3/config/paths/list?itemsPerPage=1000").get("items") or []
        return {str(item["name"]) for item in items}

    def readers(self, path: str) -> list[str]:
        item = self.api_get(f"/v3/paths/get/{path}")
        return [str(reader.get("id")) for reader in item.get("readers") or []]


class Livestream(Child):
    """One nvr-livestream process, its config and its proxy mediamtx."""

    def __init__(
        self,
        root: Path,
        sim: CameraSimulator,
        viewers: list[dict[str, Any]],
        media_tls: bool = False,
    ) -> None:
        super().__init__(root, "livestream")
        self.sim = sim
        self.media_tls = media_tls
        # Where systemd would put mediamtx's credentials: the box's pair, self-signed.
        self.tls_dir = root / "tls"
        # Per camera not of the simulator: its keys (`url` at least).
        self.camera_keys: dict[str, dict[str, Any]] = {}
        self.ports = Ports()
        self.viewers = viewers
        self.config_path = root / "nvr.yaml"
        self.state_file = root / "state" / "state.db"
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        (root / "recordings").mkdir(exist_ok=True)
        self.proxy = ProxyMediamtx(root / "proxy", self.ports)
        # The tests read the proxy's API as a technician would, with the configured secret.
        self.proxy.api_auth = (MEDIAMTX_API_USER, API_SECRET)
        # AF_UNIX paths are limited to ~108 bytes: pytest tmp paths can be longer.
        self.notify = NotifySocket(Path(tempfile.mkdtemp(prefix="nvrls-")) / "notify.sock")

    def write_config(self, cameras: list[str], disabled: tuple[str, ...] = ()) -> None:
        config = {
            "site": {"id": "test-01"},
            "storage": {
                "recordings_dir": str(self.root / "recordings"),
                "state_file": str(self.state_file),
            },
            "livestream": {
                "listen": f"127.0.0.1:{self.ports.listen}",
                "mediamtx_api": f"http://127.0.0.1:{self.ports.api}",
                "public_host": "127.0.0.1",
                "rtsp_port": self.ports.rtsp,
                "hls_port": self.ports.hls,
                "webrtc_port": self.ports.webrtc,
                "rtsps_port": self.ports.rtsps,
                "media_tls": "on" if self.media_tls else "off",
                "tls_cert_file": str(self.tls_dir / CERT_CREDENTIAL),
                "tls_key_file": str(self.tls_dir / KEY_CREDENTIAL),
                "reconcile_seconds": 2,
                "viewers": self.viewers,
                "mediamtx_api_secret": API_SECRET,
            },
            "cameras": [
                {
                    "id": cid,
                    "name": f"Camera {cid}",
                    "enabled": cid not in disabled,
                    **(self.camera_keys.get(cid) or {"url": self.sim.camera_url(cid)}),
                }
                for cid in cameras
            ],
        }
        self.config_path.write_text(yaml.safe_dump(config))
        if self.media_tls:
            make_pair(self.tls_dir)
            section = load_config(self.config_path).livestream
            self.proxy.render = lambda base: render(base, section, self.tls_dir)

    def start(self) -> None:
        """Start the daemon, wait for READY, then start the proxy (it asks the daemon)."""
        argv = [sys.executable, "-m", "nvr.livestream.main", "--config", str(self.config_path)]
        self.spawn(argv, NOTIFY_SOCKET=str(self.notify.path))
        wait_until(lambda: self.notify.has("READY=1"), 30, "READY=1 from nvr-livestream")
        self.proxy.start()

    def close(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None
        self.proxy.stop()
        self.notify.close()

    def reload(self) -> None:
        self.signal(signal.SIGHUP)

    def heartbeat(self) -> dict[str, Any]:
        rows = query_state(
            self.state_file,
            "SELECT status, detail_json FROM heartbeats WHERE daemon = 'nvr-livestream'",
        )
        return {"status": rows[0][0], **json.loads(rows[0][1])} if rows else {}

    def api(self, endpoint: str, auth: tuple[str, str] | None) -> requests.Response:
        url = f"http://127.0.0.1:{self.ports.listen}{endpoint}"
        return requests.get(url, auth=auth, timeout=10)

    def wait_paths(self, wanted: set[str], timeout: float = 60) -> None:
        def same() -> bool:
            try:
                return self.proxy.configured_paths() == wanted
            except Exception:
                return False

        wait_until(same, timeout, f"proxy paths == {sorted(wanted)}")

    def rtsp_url(self, camera: str, user: str | None = None, pw: str | None = None) -> str:
        return self.proxy.rtsp_url(camera, user, pw)

    def hls_url(self, camera: str, user: str | None = None, pw: str | None = None) -> str:
        auth = f"{user}:{pw}@" if user else ""
        return f"http://{auth}127.0.0.1:{self.ports.hls}/{camera}/index.m3u8"


def make_pair(directory: Path) -> None:
    """The box's self-signed certificate and key, made as the installer makes them."""
    if not (directory / CERT_CREDENTIAL).exists():
        args = argparse.Namespace(dir=directory, days=1, group=None, force=False)
        tls_cmd.self_signed(args)


def ffprobe(url: str, timeout: float = PROBE_TIMEOUT_S) -> subprocess.CompletedProcess[str]:
    """ffprobe a stream: the streams found, as JSON on stdout."""
    argv = [require_tool("ffprobe"), "-v", "error", "-show_streams", "-of", "json"]
    if url.startswith("rtsp"):
        argv += ["-rtsp_transport", "tcp"]
    return subprocess.run(
        [*argv, url], capture_output=True, text=True, timeout=timeout, check=False
    )


def video_codecs(result: subprocess.CompletedProcess[str]) -> list[str]:
    if result.returncode != 0:
        return []
    streams = json.loads(result.stdout or "{}").get("streams", [])
    return [s.get("codec_name", "") for s in streams if s.get("codec_type") == "video"]


@contextlib.contextmanager
def watching(url: str, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A long-running RTSP viewer for the `with` block: ffmpeg reading the stream and
    throwing it away, stopped on the way out."""
    argv = [require_tool("ffmpeg"), "-nostdin", "-v", "error", "-rtsp_transport", "tcp"]
    argv += ["-i", url, "-c", "copy", "-f", "null", "-"]
    with log.open("wb") as handle:
        viewer = subprocess.Popen(argv, stdout=handle, stderr=subprocess.STDOUT)
    try:
        yield viewer
    finally:
        viewer.terminate()
        viewer.wait(10)
