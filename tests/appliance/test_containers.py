"""The container deployment: the image built with podman from Debian packages, run with
podman-compose (one container per daemon plus mediamtx), recording the host's simulated
cameras and reporting to a real nvr-headoffice on the host.

Podman runs rootful with this repository's containers.conf (runc, cgroupfs, the caller's
ulimits: see docs/design/appliance.md for why) and its storage in ~/.cache/nvr-dev/containers,
so the base image and the venv layer are built once per machine.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
import yaml

from appliance.box import SEGMENT_SECONDS, UNITS, Ports, camera
from appliance.nspawn import REPO, tool
from nvr_camsim import CameraSimulator
from nvrtest import wait_until
from nvrtest.headoffice import SECRET, SITE, HeadOffice, write_sites

pytestmark = pytest.mark.timeout(600)

CONTAINER_DIR = REPO / "packaging" / "container"
# From the dev extra of pyproject.toml, next to this interpreter.
PODMAN_COMPOSE = str(Path(sys.executable).parent / "podman-compose")
CACHE = Path(os.environ.get("NVR_DEV_CACHE", Path.home() / ".cache" / "nvr-dev"))
# One container per systemd unit of the box.
SERVICES = UNITS


PROCESS_WAITS = (
    'for p in /proc/[0-9]*; do echo "$p $(tr "\\0" " " < $p/cmdline) wchan=$(cat $p/wchan)"; done'
)


@pytest.fixture(scope="module")
def podman_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment that points podman at our containers.conf and a cached storage."""
    storage = tmp_path_factory.mktemp("podman") / "storage.conf"
    storage.write_text(
        "[storage]\n"
        'driver = "overlay"\n'
        f'graphroot = "{CACHE / "containers" / "storage"}"\n'
        f'runroot = "{CACHE / "containers" / "run"}"\n'
    )
    return {
        **os.environ,
        "CONTAINERS_CONF": str(CONTAINER_DIR / "containers.conf"),
        "CONTAINERS_STORAGE_CONF": str(storage),
    }


def run(argv: list[str], env: dict[str, str], timeout: float = 600) -> str:
    result = subprocess.run(
        argv, capture_output=True, text=True, check=False, env=env, timeout=timeout
    )
    assert result.returncode == 0, f"{' '.join(argv)}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def image(deb: Path, podman_env: dict[str, str]) -> str:
    tool("podman", "podman")
    tag = run(
        ["bash", str(CONTAINER_DIR / "build.sh"), str(deb), "localhost/nvr:test"], podman_env
    ).strip()
    # The previous build of the tag is left untagged in the cached storage: drop it.
    run([tool("podman", "podman"), "image", "prune", "--force"], podman_env)
    return tag


class Stack:
    """podman-compose on the shipped compose.yaml, as project `name`."""

    def __init__(self, name: str, env: dict[str, str]) -> None:
        self.name = name
        self.env = env

    def compose(self, *args: str) -> str:
        return run(
            [
                PODMAN_COMPOSE,
                "-p",
                self.name,
                "-f",
                str(CONTAINER_DIR / "compose.yaml"),
                *args,
            ],
            self.env,
        )

    def podman(self, *args: str) -> str:
        return run([tool("podman", "podman"), *args], self.env)

    def container(self, service: str) -> str:
        return self.podman(
            "ps",
            "--filter",
            f"label=io.podman.compose.project={self.name}",
            "--filter",
            f"label=com.docker.compose.service={service}",
            "--format",
            "{{.Names}}",
        ).split()[0]

    def volume(self, name: str) -> Path:
        return Path(
            self.podman(
                "volume", "inspect", "--format", "{{.Mountpoint}}", f"{self.name}_{name}"
            ).strip()
        )

    def diagnose(self) -> str:
        """`podman ps -a` and the last lines of every container's log, for a failure."""
        lines = [
            self.podman("ps", "-a", "--filter", f"label=io.podman.compose.project={self.name}")
        ]
        for service in SERVICES:
            try:
                name = self.container(service)
                logs = self.podman("logs", "--tail", "15", name)
                # Where each process of the container waits (pipe_write, futex, ...).
                logs += self.podman("exec", name, "sh", "-c", PROCESS_WAITS)
            except (AssertionError, IndexError):
                logs = "(no container)"
            lines.append(f"--- {service}\n{logs}")
        return "\n".join(lines)

    def wait(self, predicate: Callable[[], object], timeout: float, what: str) -> object:
        """wait_until, and on a timeout say what every container was doing."""
        try:
            return wait_until(predicate, timeout, what)
        except AssertionError as err:
            raise AssertionError(f"{err}\n{self.diagnose()}") from err

    def running(self) -> set[str]:
        out = self.podman(
            "ps", "--filter", f"label=io.podman.compose.project={self.name}", "--format", "json"
        )
        return {
            c["Labels"]["com.docker.compose.service"]
            for c in json.loads(out or "[]")
            if c["State"] == "running"
        }


@pytest.fixture(scope="module")
def headoffice(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HeadOffice]:
    root = tmp_path_factory.mktemp("headoffice")
    receiver = HeadOffice(root, write_sites(root))
    yield receiver
    receiver.stop()


@pytest.fixture(scope="module")
def stack(
    image: str,
    podman_env: dict[str, str],
    simulator: CameraSimulator,
    headoffice: HeadOffice,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Stack, Ports]]:
    top = tmp_path_factory.mktemp("compose")
    ports = Ports()
    config = yaml.safe_load((REPO / "etc" / "nvr" / "nvr.yaml").read_text())
    config["site"]["id"] = SITE
    config["recording"]["segment_seconds"] = SEGMENT_SECONDS
    config["livestream"].update(
        listen=f"127.0.0.1:{ports.viewer}",
        mediamtx_api=f"http://127.0.0.1:{ports.api}",
        rtsp_port=ports.rtsp,
        hls_port=ports.hls,
        webrtc_port=ports.webrtc,
    )
    config["health"]["listen"] = f"127.0.0.1:{ports.health}"
    config["uplink"]["head_office"] = {"url": headoffice.reports_url, "secret": SECRET}
    config["uplink"]["retry_initial_seconds"] = 1.0
    config["cameras"] = [camera(c, simulator.camera_url(c)) for c in ("cam01", "cam02")]
    (top / "nvr.yaml").write_text(yaml.safe_dump(config))
    (top / "nvr.yaml").chmod(0o644)
    mediamtx = yaml.safe_load((REPO / "etc" / "mediamtx" / "mediamtx.yml").read_text())
    mediamtx.update(ports.mediamtx())
    (top / "mediamtx.yml").write_text(yaml.safe_dump(mediamtx))
    env = {
        **podman_env,
        "NVR_IMAGE": image,
        "NVR_CONFIG": str(top / "nvr.yaml"),
        "NVR_MEDIAMTX_CONFIG": str(top / "mediamtx.yml"),
    }
    made = Stack(f"nvrtest{uuid.uuid4().hex[:8]}", env)
    try:
        made.compose("up", "-d")
        yield made, ports
    finally:
        subprocess.run(
            [
                PODMAN_COMPOSE,
                "-p",
                made.name,
                "-f",
                str(CONTAINER_DIR / "compose.yaml"),
                "down",
                "-v",
                "-t",
                "30",
            ],
            env=env,
            capture_output=True,
            check=False,
            timeout=300,
        )


def test_one_container_per_daemon_records_reports_and_answers_health(
    stack: tuple[Stack, Ports], headoffice: HeadOffice
) -> None:
    made, ports = stack
    made.wait(lambda: made.running() == set(SERVICES), 120, "every service running")
    state = made.volume("nvr-state") / "state.db"

    def recorded() -> bool:
        if not state.exists():
            return False
        with sqlite3.connect(f"file:{state}?mode=ro", uri=True, timeout=5) as conn:
            rows = conn.execute(
                "SELECT camera, count(*) FROM segments WHERE status = 'ok' GROUP BY camera"
            ).fetchall()
        return {camera for camera, _ in rows} >= {"cam01", "cam02"}

    made.wait(recorded, 120, "both cameras recorded into the shared volumes")
    recordings = made.volume("nvr-recordings")
    assert list((recordings / "cam01").rglob("*.mp4")), "no cam01 segment in the volume"
    # The image's recording-only ffmpeg records (its NVR_FFMPEG_REC_BIN), not Debian's.
    # `; true`: a process that ends between the glob and readlink is not a failure.
    exes = made.podman(
        "exec", made.container("nvr-backup"), "sh", "-c", "readlink /proc/[0-9]*/exe; true"
    ).split()
    assert exes.count("/usr/lib/nvr/ffmpeg-rec") >= 2, exes

    last_answer: list[str] = ["(none)"]

    def health() -> dict[str, object] | None:
        try:
            answer = requests.get(f"http://127.0.0.1:{ports.health}/health", timeout=5)
        except requests.ConnectionError as err:
            last_answer[0] = f"not answering: {err}"
            return None
        last_answer[0] = f"{answer.status_code} {answer.text[:3000]}"
        body: dict[str, object] = answer.json()
        return body if answer.status_code == 200 else None

    try:
        body = made.wait(health, 240, "/health answers 200 (every daemon beating, cameras ok)")
    except AssertionError as err:
        raise AssertionError(f"last /health answer: {last_answer[0]}\n{err}") from err
    assert isinstance(body, dict) and body["site"] == SITE

    made.podman("exec", made.container("nvr-report"), "nvrctl", "report", "now")
    made.wait(
        lambda: any(r["kind"] == "status" for r in headoffice.reports()),
        120,
        "a status report at head office",
    )
