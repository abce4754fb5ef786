"""`make demo` (python -m nvr_demo): starts everything, prints what to open, Ctrl-C stops it all."""

from __future__ import annotations

import random
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import psutil
import pytest
import requests

from nvr_demo.stack import VIEWER_PASSWORD, VIEWER_USER, Ports
from nvrtest import wait_until

pytestmark = pytest.mark.timeout(600)

PORTS = len(Ports.__dataclass_fields__)


def free_port_range() -> int:
    """A base port whose PORTS consecutive ports are all free on loopback."""
    for _ in range(50):
        base = random.randrange(20_000, 60_000)
        try:
            for port in range(base, base + PORTS):
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise AssertionError("no free range of ports")


def get(url: str) -> int:
    """The status code of a GET, 0 while nothing listens."""
    try:
        return requests.get(url, timeout=10).status_code
    except requests.ConnectionError:
        return 0


def test_demo_prints_what_to_open_and_ctrl_c_stops_everything(tmp_path: Path) -> None:
    run_dir, base = tmp_path / "demo", free_port_range()
    ports = Ports.fixed(base)
    demo = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "nvr_demo",
            "--cameras",
            "2",
            "--no-minio",
            "--run-dir",
            str(run_dir),
            "--port-base",
            str(base),
            "--mediamtx-config",
            str(Path(__file__).resolve().parents[2] / "etc" / "mediamtx" / "mediamtx.yml"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(demo.stdout or []), daemon=True)
    reader.start()
    try:
        wait_until(
            lambda: any("Ctrl-C stops everything" in line for line in lines),
            240,
            "the demo's guide",
        )
        guide = "".join(lines)
        for url in (
            f"http://127.0.0.1:{ports.health}/",
            f"http://127.0.0.1:{ports.headoffice}/",
            f"http://127.0.0.1:{ports.health}/health",
        ):
            assert url in guide
        home = f"http://127.0.0.1:{ports.headoffice}/"
        wait_until(lambda: get(home) == 200, 60, "the head-office page")
        health = f"http://127.0.0.1:{ports.health}/health"
        wait_until(lambda: get(health) == 200, 120, "/health 200 in the demo")
        streams = requests.get(
            f"http://127.0.0.1:{ports.livestream}/api/streams",
            auth=(VIEWER_USER, VIEWER_PASSWORD),
            timeout=10,
        )
        assert streams.status_code == 200
        assert [s["id"] for s in streams.json()["streams"]] == ["cam01", "cam02"]
    finally:
        demo.send_signal(signal.SIGINT)  # what Ctrl-C does
        code = demo.wait(150)
    reader.join(5)
    if demo.stdout is not None:
        demo.stdout.close()
    assert code == 0, "".join(lines[-20:])
    assert "stopped." in "".join(lines)
    leftovers = [
        p.info["cmdline"]
        for p in psutil.process_iter(["cmdline"])
        if str(run_dir) in " ".join(p.info["cmdline"] or [])
    ]
    assert leftovers == [], leftovers
