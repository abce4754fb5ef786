"""nvr-health run for real: READY, STATUS, /health over HTTP, the page in Chromium, SIGTERM."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from nvr.core.state import now_ms
from nvrtest import NotifySocket, ready_daemon, wait_until
from nvrtest.box import GUARD, GUARD_PW, TECH, TECH_PW, Box

pytestmark = pytest.mark.timeout(120)

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "run" / "test-artifacts" / "health"
CHROMIUM = "/usr/bin/chromium"


def fetch(url: str, auth: tuple[str, str] | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url)
    if auth is not None:
        token = base64.b64encode(":".join(auth).encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


@pytest.fixture
def running(box: Box, tmp_path: Path) -> Iterator[tuple[Box, str, NotifySocket]]:
    snapshot = box.config.storage.state_file.parent / "snapshots" / "cam01" / "last_good.jpg"
    snapshot.parent.mkdir(parents=True)
    picture = np.zeros((180, 320, 3), np.uint8)
    picture[:, :160] = (40, 160, 40)
    snapshot.write_bytes(cv2.imencode(".jpg", picture)[1].tobytes())
    box.run("cam02", box.now - 20_000_000, box.now - 10_000_000, "camera offline")
    with ready_daemon("nvr.health.main", box.config_path, tmp_path) as (health, notes):
        yield box, f"http://{box.config.health.listen}", notes
    assert "Traceback" not in health.log()


def chromium(url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run(
            [
                CHROMIUM,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                f"--user-data-dir={profile}",
                "--window-size=1280,1600",
                "--enable-logging=stderr",
                "--v=0",
                *extra,
                url,
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )


def test_daemon_serves_health_and_stops_cleanly(running: tuple[Box, str, NotifySocket]) -> None:
    box, base, notes = running
    assert wait_until(lambda: notes.has("STATUS=serving on"), 20, "STATUS line")
    code, body = fetch(f"{base}/health")
    answer = json.loads(body)
    assert (code, answer["status"]) == (200, "healthy"), answer["failing"]
    assert fetch(f"{base}/ready")[0] == 200
    code, text = fetch(f"{base}/metrics")
    assert code == 200 and b'nvr_camera_up{camera="cam01"} 1.0' in text
    with box.store.write() as conn:
        conn.execute(
            "UPDATE heartbeats SET updated_at_ms = updated_at_ms - 120000"
            " WHERE daemon = 'nvr-report'"
        )
    # Answers may be up to a second old (REPORT_CACHE_SECONDS).
    code, body = wait_until(
        lambda: (answer := fetch(f"{base}/health"))[0] == 503 and answer, 10, "503"
    )
    assert "nvr-report hung or crashed" in body.decode()
    row = (
        box.store.read()
        .execute("SELECT state, status FROM heartbeats WHERE daemon = 'nvr-health'")
        .fetchone()
    )
    assert row[0] == "running" and row[1].startswith("serving on 127.0.0.1:")


def test_status_page_in_headless_chromium(running: tuple[Box, str, NotifySocket]) -> None:
    _, base, _ = running
    # The technician's login in the URL: Chromium sends it, and keeps it for the snapshots.
    page_url = base.replace("http://", f"http://{TECH}:{TECH_PW}@") + "/"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "status-page.png"
    shot.unlink(missing_ok=True)
    taken = chromium(page_url, f"--screenshot={shot}")
    print(f"status page screenshot: {shot}")
    assert shot.is_file() and shot.stat().st_size > 10_000, taken.stderr[-2000:]
    dom = chromium(page_url, "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    page = dom.stdout
    for text in ("Gate", "Yard", 'id="cam-cam01"', 'id="cam-cam02"', "nvr-backup", "head_office"):
        assert text in page, text
    assert page.count('class="tl"') == 2
    assert 'data-camera="cam01"' in page and "/view/" in page  # opens the playback page
    assert "camera offline" in page  # cam02's gap is named and coloured
    assert 'src="snapshot/cam01.jpg"' in page
    errors = [
        line
        for line in (taken.stderr + dom.stderr).splitlines()
        if "Uncaught" in line or ("CONSOLE" in line and "error" in line.lower())
    ]
    assert not errors, errors
    assert fetch(f"{base}/snapshot/cam01.jpg", (TECH, TECH_PW))[0] == 200
    assert fetch(f"{base}/snapshot/..%2Fstate.db.jpg", (TECH, TECH_PW))[0] == 404
    # Pictures need a login, and only of the cameras the account may watch.
    assert fetch(f"{base}/snapshot/cam01.jpg")[0] == 401
    assert fetch(f"{base}/")[0] == 401
    assert fetch(f"{base}/snapshot/cam01.jpg", (GUARD, GUARD_PW))[0] == 403
    assert fetch(f"{base}/", (GUARD, GUARD_PW))[0] == 403


def test_status_page_timeline_zooms_and_counts_dropouts(
    running: tuple[Box, str, NotifySocket],
) -> None:
    """Issue 24: 24 h / 1 h / 15 min, gaps visible at each, dropouts counted, five colours."""
    box, base, _ = running
    minute = 60_000
    # cam02 dropped out four times in the last 15 min (camera offline each time).
    for back in (15, 13, 11, 9):
        box.segment("cam02", box.now - back * minute)
    for back in (14, 12, 10, 8):
        box.run("cam02", box.now - 30 * minute, box.now - back * minute, "camera offline")
    page_url = base.replace("http://", f"http://{TECH}:{TECH_PW}@") + "/"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    pages = {}
    for zoom in ("24h", "1h", "15m"):
        shot = ARTIFACTS / f"status-page-zoom-{zoom}.png"
        shot.unlink(missing_ok=True)
        taken = chromium(f"{page_url}?zoom={zoom}", f"--screenshot={shot}")
        assert shot.is_file() and shot.stat().st_size > 10_000, taken.stderr[-2000:]
        dom = chromium(f"{page_url}?zoom={zoom}", "--dump-dom")
        assert dom.returncode == 0, dom.stderr[-2000:]
        pages[zoom] = " ".join(dom.stdout.split())
    assert "cam02: 4 dropouts in 15 min" in pages["15m"]
    # Over the hour the box's fixture adds the stretch before its five recorded minutes.
    hour = re.search(r"cam02: (\d+) dropouts in 1 h", pages["1h"])
    assert hour is not None and int(hour.group(1)) >= 4
    # The zoom shown is bold, the other two are links.
    assert "<b>15 min</b>" in pages["15m"] and 'href="?zoom=24h"' in pages["15m"]
    # Each of the four gaps is drawn, and at least 1 % wide even at 24 h.
    for page in pages.values():
        assert page.count("camera offline (camera or network)") >= 4
    widths = [float(w) for w in re.findall(r"width:([0-9.]+)%;background:#d32f2f", pages["24h"])]
    assert len(widths) >= 4 and min(widths) >= 1.0
    # Five legend colours: recorded and the four causes.
    legend = pages["24h"].split('class="legend"')[1].split("</div>")[0]
    assert legend.count("<span") == 5
    assert "camera or network" in legend and "box: disk or recorder" in legend

    # Start-up is not an outage: cam02 just added, its first segment not closed yet.
    # The pages above may have taken minutes on a busy machine: the box is live again now.
    box.now = now_ms()
    box.all_beating()
    box.segment("cam01", box.now - 70_000)
    box.validation("cam01", "ok")
    with box.store.write() as conn:
        for table in ("segments", "recording_runs", "validations"):
            conn.execute(f"DELETE FROM {table} WHERE camera = 'cam02'")
    box.run("cam02", now_ms() - 5_000, None, None)
    shot = ARTIFACTS / "status-page-camera-starting.png"

    def starting_page() -> str | None:
        dom = " ".join(chromium(page_url, "--dump-dom").stdout.split())
        return dom if "<div>starting</div>" in dom else None

    page = wait_until(starting_page, 30, "cam02 shown as starting")
    chromium(page_url, f"--screenshot={shot}")
    assert "badge b-healthy" in page
    cam02 = page.split('id="cam-cam02"')[1].split('id="cam-')[0]
    assert '(cam02) <span class="ok"> ok</span>' in cam02 and "no recorded segment" not in cam02
