"""The nvr .deb installed in a booted guest (nspawn.Guest), configured for the simulator.

The guest shares the host's network, so every port the appliance listens on (nvr-health,
the viewer API, mediamtx's RTSP/HLS/WebRTC/API/metrics) is picked free on the host and
written into the guest's nvr.yaml and mediamtx.yml: nothing collides with the other tests
running on this machine. Cameras are the host's simulator (its URLs are on 127.0.0.1).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from appliance.nspawn import REPO, Guest
from nvr_camsim.mediamtx import free_port
from nvrtest import SIM_HEIGHT, SIM_WIDTH, wait_until

DAEMONS = (
    "nvr-backup",
    "nvr-hddmon",
    "nvr-validator",
    "nvr-livestream",
    "nvr-report",
    "nvr-health",
    "nvr-uplink",
    "nvr-hse",
)
UNITS = (*DAEMONS, "mediamtx")
# Short segments so a test sees a finished one quickly.
SEGMENT_SECONDS = 6
GUEST_DEB = "/root/nvr.deb"
STATE_DB = "/var/lib/nvr/state.db"
RECORDINGS = "/srv/nvr/recordings"


@dataclass
class Ports:
    """Free host ports for everything the appliance listens on."""

    health: int = field(default_factory=free_port)
    viewer: int = field(default_factory=free_port)
    rtsp: int = field(default_factory=free_port)
    hls: int = field(default_factory=free_port)
    webrtc: int = field(default_factory=free_port)
    webrtc_udp: int = field(default_factory=free_port)
    rtsps: int = field(default_factory=free_port)
    api: int = field(default_factory=free_port)
    metrics: int = field(default_factory=free_port)

    def mediamtx(self) -> dict[str, str]:
        """mediamtx.yml's listen addresses on these ports (the viewer API is its auth hook)."""
        return {
            "authHTTPAddress": f"http://127.0.0.1:{self.viewer}/mediamtx/auth",
            "apiAddress": f"127.0.0.1:{self.api}",
            "metricsAddress": f"127.0.0.1:{self.metrics}",
            "rtspAddress": f"127.0.0.1:{self.rtsp}",
            "hlsAddress": f"127.0.0.1:{self.hls}",
            "webrtcAddress": f"127.0.0.1:{self.webrtc}",
            "webrtcLocalUDPAddress": f"127.0.0.1:{self.webrtc_udp}",
        }


def camera(camera_id: str, url: str) -> dict[str, Any]:
    return {
        "id": camera_id,
        "name": camera_id,
        "url": url,
        "expect": {"codec": "h264", "width": SIM_WIDTH, "height": SIM_HEIGHT},
    }


def build_deb(out: Path, revision: int = 1, src: Path = REPO) -> Path:
    """`make deb`'s build (packaging/deb/build.sh of the tree `src`) into `out`; returns the
    .deb. `revision` makes a newer build of the same code. The build runs this interpreter:
    a tree other than this checkout (an old release's) has no .venv of its own."""
    result = subprocess.run(
        ["bash", str(src / "packaging" / "deb" / "build.sh"), str(out)],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHON": sys.executable, "NVR_DEB_REVISION": str(revision)},
    )
    if result.returncode != 0:
        raise RuntimeError(f"make deb failed:\n{result.stdout}\n{result.stderr[-3000:]}")
    return Path(result.stdout.strip().splitlines()[-1])


@contextmanager
def installed_box(
    rootfs: Path, deb: Path, mediamtx: Path, work: Path, name: str
) -> Iterator[Appliance]:
    """A guest booted from `rootfs` in `work` (machine `name`-<work's suffix>), with the
    host's mediamtx and `deb` installed, nothing configured or started yet."""
    with Guest(rootfs, work, f"{name}-{work.name[-6:]}") as guest:
        box = Appliance(guest, mediamtx)
        box.install(deb)
        yield box


def shipped_file(path: str, release: str | None) -> str:
    """A file of the repo as the working tree has it, or as commit `release` had it."""
    if release is None:
        return (REPO / path).read_text()
    return subprocess.run(
        ["git", "-C", str(REPO), "show", f"{release}:{path}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


class Appliance:
    """What a technician does on a site, from the host: install, configure, systemctl."""

    def __init__(self, guest: Guest, mediamtx: Path) -> None:
        self.guest = guest
        self.ports = Ports()
        guest.install_file(mediamtx, "/usr/local/bin/mediamtx", 0o755)

    def install(self, deb: Path, *dpkg_options: str) -> str:
        """`dpkg -i` a .deb copied into the guest; returns dpkg's output."""
        self.guest.install_file(deb, GUEST_DEB)
        result = self.guest.run("dpkg", *dpkg_options, "-i", GUEST_DEB, timeout=300)
        return result.stdout + result.stderr

    def configure(
        self, cameras: list[dict[str, Any]], release: str | None = None, **sections: dict[str, Any]
    ) -> None:
        """The shipped example config with this site's cameras and free ports.

        `release`: a commit whose example configs to start from (an older release installed
        for the upgrade test reads only the keys it knew); the working tree's by default.
        """
        config = yaml.safe_load(shipped_file("etc/nvr/nvr.yaml", release))
        config["recording"]["segment_seconds"] = SEGMENT_SECONDS
        config["livestream"].update(
            listen=f"127.0.0.1:{self.ports.viewer}",
            mediamtx_api=f"http://127.0.0.1:{self.ports.api}",
            rtsp_port=self.ports.rtsp,
            hls_port=self.ports.hls,
            webrtc_port=self.ports.webrtc,
        )
        if "rtsps_port" in config["livestream"]:  # releases before TLS on mediamtx lack it
            config["livestream"]["rtsps_port"] = self.ports.rtsps
        config["health"]["listen"] = f"127.0.0.1:{self.ports.health}"
        config["cameras"] = cameras
        for name, values in sections.items():
            config[name].update(values)
        self.guest.path("/etc/nvr/nvr.yaml").write_text(yaml.safe_dump(config))
        mediamtx = yaml.safe_load(shipped_file("etc/mediamtx/mediamtx.yml", release))
        mediamtx.update(self.ports.mediamtx())
        self.guest.path("/etc/mediamtx/mediamtx.yml").write_text(yaml.safe_dump(mediamtx))

    def systemctl(self, *args: str, timeout: float = 180.0) -> str:
        return self.guest.out("systemctl", *args, timeout=timeout)

    def main_pid(self, unit: str) -> int:
        return int(self.guest.unit_property(unit, "MainPID"))

    def sql(self, query: str) -> str:
        return self.guest.out("sqlite3", "-cmd", ".timeout 5000", STATE_DB, query).strip()

    def segments(self, camera_id: str) -> int:
        """Indexed segments of the camera; 0 while no daemon has created the schema yet."""
        query = f"SELECT count(*) FROM segments WHERE camera = '{camera_id}' AND status = 'ok'"
        result = self.guest.run("sqlite3", "-cmd", ".timeout 5000", STATE_DB, query, check=False)
        if result.returncode != 0 and "no such table" in result.stderr:
            return 0  # the daemons are starting (a busy box can take a while)
        assert result.returncode == 0, f"in guest: {query}: {result.stderr}"
        return int(result.stdout.strip())

    def wait_segments(self, camera_id: str, more_than: int, timeout: float = 90.0) -> int:
        """Wait until the index holds more than `more_than` segments of the camera."""
        return int(
            wait_until(
                lambda: (n := self.segments(camera_id)) > more_than and n,
                timeout,
                f"{camera_id}: more than {more_than} segments indexed in the guest:\n"
                + self.guest.journal("nvr-backup.service"),
            )
        )

    def ffmpeg_pids(self) -> dict[str, int]:
        """nvr-backup's ffmpeg children by camera id (the camera is in the output path)."""
        out = self.guest.out("ps", "-o", "pid=,args=", "--ppid", str(self.main_pid("nvr-backup")))
        pids = {}
        for line in out.splitlines():
            pid, _, args = line.strip().partition(" ")
            if "ffmpeg" in args:
                for word in args.split():
                    if word.startswith(RECORDINGS + "/"):
                        pids[word.split("/")[4]] = int(pid)
        return pids

    def health(self) -> dict[str, Any]:
        """nvr-health's /health answer (200 or 503, JSON either way)."""
        url = f"http://127.0.0.1:{self.ports.health}/health"
        try:
            with urllib.request.urlopen(url, timeout=10) as answer:
                body = answer.read()
        except urllib.error.HTTPError as err:
            body = err.read()
        return dict(json.loads(body))
