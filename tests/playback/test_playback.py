"""Playback of a real recording: /list, /get, HLS in Chromium, permissions, retention races.

The tests share one recorded camera (conftest.py) and run in file order: the last one
deletes files, as retention would.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import psutil
import pytest
import requests
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains

from nvr.core.identity import signature_valid
from nvr.core.manifest import MANIFEST_SUFFIX, canonical
from nvr.core.timeutil import format_ms
from nvr.core.tools import require_tool
from nvr.livestream.playback import parse_rfc3339
from nvrtest import query_state, wait_until

from .conftest import ALICE, ALICE_PW, BOB, BOB_PW, WIDTH, Recorded

GOP_SECONDS = 1.0  # camsim's keyframe interval
CHROMEDRIVER = "/usr/bin/chromedriver"


def probe(data: bytes, tmp_path: Path) -> dict[str, Any]:
    """ffprobe's view of a downloaded clip: format duration and the video stream."""
    clip = tmp_path / f"clip-{time.monotonic_ns()}.mp4"
    clip.write_bytes(data)
    result = subprocess.run(
        [require_tool("ffprobe"), "-v", "error", "-show_format", "-show_streams", "-of", "json",
         str(clip)],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    info: dict[str, Any] = json.loads(result.stdout)
    return info


def clip_seconds(recorded: Recorded, tmp_path: Path, start_ms: int, seconds: float,
                 kind: str = "fmp4") -> tuple[float, float, dict[str, Any]]:  # fmt: skip
    """(duration ffprobe reads, recorded seconds the server announced, ffprobe's video)."""
    answer = recorded.get(
        f"/get?path=cam01&start={format_ms(start_ms)}&duration={seconds}&format={kind}"
    )
    assert answer.status_code == 200, answer.text
    info = probe(answer.content, tmp_path)
    video = next(s for s in info["streams"] if s["codec_type"] == "video")
    return float(info["format"]["duration"]), float(answer.headers["X-Recorded-Seconds"]), video


def test_get_is_stream_copied_and_cut_within_a_gop(recorded: Recorded, tmp_path: Path) -> None:
    """Within a segment, across a segment boundary, across a gap, into the open segment."""
    segments = recorded.segments()
    first_end, second_start = recorded.gap
    # Inside one segment.
    start = segments[1][2] + 1_000
    duration, _, video = clip_seconds(recorded, tmp_path, start, 2)
    assert abs(duration - 2) <= GOP_SECONDS + 0.3, duration
    assert video["codec_name"] == "h264" and video["width"] == WIDTH  # the camera's stream
    # Across the boundary between two segments of one run.
    start = segments[1][3] - 2_500
    duration, _, _ = clip_seconds(recorded, tmp_path, start, 5)
    assert abs(duration - 5) <= GOP_SECONDS + 0.3, duration
    # Across the gap: the clip holds the recorded seconds only, as the server says.
    duration, announced, _ = clip_seconds(
        recorded, tmp_path, first_end - 3_000, (second_start - first_end) / 1000 + 6
    )
    expected = 3 + 3  # three seconds before the gap, three after it
    assert abs(announced - expected) <= 0.5, announced
    assert abs(duration - announced) <= GOP_SECONDS + 0.3, (duration, announced)
    # Plain MP4 (the download format) of the same stretch.
    duration, _, _ = clip_seconds(recorded, tmp_path, segments[1][2], 3, kind="mp4")
    assert abs(duration - 3) <= GOP_SECONDS + 0.3

    # The open segment being written: a range after the newest indexed segment.
    # What it holds is what ffmpeg has written so far (256 KiB at a time), so ask again
    # until a fragment is there, and count only answers given while it was still open.
    def from_open_segment() -> float:
        newest_end = recorded.segments()[-1][3]
        start = format_ms(newest_end + 200)
        answer = recorded.get(f"/get?path=cam01&start={start}&duration=20")
        if answer.status_code != 200 or recorded.segments()[-1][3] != newest_end:
            return 0.0
        return float(probe(answer.content, tmp_path)["format"].get("duration", 0))

    assert wait_until(from_open_segment, 60, "a clip from the segment being written") >= 0.5


def test_list_and_no_recording(recorded: Recorded) -> None:
    """Spans in mediamtx's shape; gaps with reasons; 404 with the gaps where nothing is."""
    start = recorded.segments()[0][2] - 10_000
    answer = recorded.get(f"/list?path=cam01&start={format_ms(start)}&gaps=true")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert len(body["spans"]) >= 2
    assert {"start", "duration", "url"} <= set(body["spans"][0])
    reasons = [g["reason"] for g in body["gaps"]]
    assert "shutdown" in reasons, body["gaps"]
    # The plain answer is the array mediamtx's tools read; its urls play.
    spans = recorded.get(f"/list?path=cam01&start={format_ms(start)}").json()
    assert isinstance(spans, list) and spans[0]["url"].startswith("/get?path=cam01")
    assert recorded.get(spans[0]["url"]).status_code == 200
    # A day before anything was recorded: 404 and the gap it falls in.
    before = start - 86_400_000
    for endpoint in (
        f"/get?path=cam01&start={format_ms(before)}&duration=60",
        f"/hls/cam01/index.m3u8?start={format_ms(before)}&duration=60",
        f"/list?path=cam01&start={format_ms(before)}&end={format_ms(before + 60_000)}",
    ):
        answer = recorded.get(endpoint)
        assert answer.status_code == 404, endpoint
        assert answer.json()["gaps"][0]["reason"] == "not recording", answer.text
    # Bad input: one line naming the parameter.
    answer = recorded.get("/get?path=cam01&start=yesterday&duration=5")
    assert answer.status_code == 400 and "start" in answer.json()["error"]


def test_permissions(recorded: Recorded) -> None:
    """bob may not see cam01 (403 everywhere); no login, 401; protecting needs may_protect."""
    segment = recorded.segments()[0]
    start = format_ms(segment[2])
    endpoints = [
        "/list?path=cam01",
        f"/get?path=cam01&start={start}&duration=5",
        f"/hls/cam01/index.m3u8?start={start}&duration=60",
        f"/hls/cam01/{segment[0]}.mp4",
        "/view/cam01",
    ]
    for endpoint in endpoints:
        assert recorded.get(endpoint, auth=(BOB, BOB_PW)).status_code == 403, endpoint
        assert recorded.get(endpoint, auth=None).status_code == 401, endpoint
        assert recorded.get(endpoint).status_code == 200, endpoint
    protect = {"path": "cam01", "start": start, "end": format_ms(segment[3]), "reason": "inc 7"}
    url = recorded.base + "/protect"
    refused = requests_post(url, protect, (BOB, BOB_PW))
    assert refused.status_code == 403
    protect["path"] = "cam02"
    assert requests_post(url, protect, (BOB, BOB_PW)).status_code == 403  # no may_protect
    protect["path"] = "cam01"
    answer = requests_post(url, protect, (ALICE, ALICE_PW))
    assert answer.status_code == 200, answer.text
    rows = query_state(recorded.state_file, "SELECT camera, reason FROM protections")
    assert rows == [("cam01", "inc 7 (by viewer alice, playback page)")]
    page = recorded.get("/view/cam01").text
    assert "protected" in page and "inc 7" in page  # the timeline shows it


def requests_post(url: str, body: dict[str, str], auth: tuple[str, str]) -> Any:
    return requests.post(url, json=body, auth=auth, timeout=30)


def test_hls_plays_and_seeks_in_chromium(recorded: Recorded, tmp_path: Path) -> None:
    """hls.js on the camera page plays the past range, seeks, and shows a picture."""
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--mute-audio",
                 "--autoplay-policy=no-user-gesture-required", "--window-size=1280,900",
                 f"--user-data-dir={tmp_path / 'profile'}"):  # fmt: skip
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        driver.execute_cdp_cmd("Network.enable", {})
        token = _basic(ALICE, ALICE_PW)
        driver.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": {"Authorization": token}})
        at = recorded.segments()[0][2]
        page = f"{recorded.base}/view/cam01?at={format_ms(at)}"
        driver.get(page)

        def current() -> float:
            return float(
                driver.execute_script("return document.getElementById('player').currentTime")
            )

        wait_until(lambda: current() > 1.0, 60, "hls.js playing (currentTime past 1 s)")
        duration = float(driver.execute_script(
            "return document.getElementById('player').duration"))  # fmt: skip
        assert duration >= 10, duration  # both runs, gap left out
        assert driver.execute_script("return hls !== null"), "hls.js is not the player"
        clock = driver.find_element("id", "clock").text
        assert clock != "-", "no wall-clock time shown while playing"
        target = duration - 5
        driver.execute_script(f"document.getElementById('player').currentTime = {target}")
        wait_until(lambda: current() > target + 0.5, 60, "playing on after the seek")
        shot = driver.find_element("id", "player").screenshot_as_png
        picture = cv2.imdecode(np.frombuffer(shot, np.uint8), cv2.IMREAD_GRAYSCALE)
        assert picture is not None and float(picture.std()) > 20, "the player shows no picture"
        # A click on the timeline's right end (now) reloads the page at that minute.
        timeline = driver.find_element("id", "timeline")
        ActionChains(driver).move_to_element_with_offset(
            timeline, timeline.size["width"] // 2 - 2, 0
        ).click().perform()
        wait_until(lambda: "at=" in driver.current_url and driver.current_url != page, 30,
                   "the page at the clicked minute")  # fmt: skip
        clicked = driver.current_url.split("at=")[1].replace("%3A", ":")
        assert abs(parse_rfc3339("at", clicked) - time.time() * 1000) < 5 * 60_000, clicked
    finally:
        driver.quit()


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_nvrctl_play_prints_the_url(recorded: Recorded) -> None:
    """Local time read in the box's zone (here Europe/Berlin), the zone said."""
    nvrctl = str(Path(sys.executable).with_name("nvrctl"))
    result = subprocess.run(
        [nvrctl, "play", "--camera", "cam01", "--at", "2026-11-21 08:00",
         "--config", str(recorded.config_path)],
        capture_output=True, text=True, timeout=60, env={**os.environ, "TZ": "Europe/Berlin"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    url, note = result.stdout.splitlines()[:2]
    assert url == f"{recorded.base}/view/cam01?at=2026-11-21T07:00:00.000Z"
    assert "CET" in note and "+0100" in note
    assert recorded.get(url.removeprefix(recorded.base)).status_code == 200
    bad = subprocess.run([nvrctl, "play", "--camera", "cam09", "--config",
                          str(recorded.config_path)], capture_output=True, text=True)  # fmt: skip
    assert bad.returncode == 1 and bad.stderr.count("\n") == 1 and "cam09" in bad.stderr


def test_download_with_signed_manifests(recorded: Recorded, tmp_path: Path) -> None:
    """The page's evidence link: one clip per run, each with a manifest the box signed."""
    first_end, second_start = recorded.gap
    start = first_end - 3_000
    seconds = (second_start - first_end) / 1000 + 6
    page = recorded.get(f"/view/cam01?at={format_ms(start)}").text
    assert 'id="evidence" href="../export?path=cam01' in page
    answer = recorded.get(f"/export?path=cam01&start={format_ms(start)}&duration={seconds}")
    assert answer.status_code == 200, answer.text
    archive = zipfile.ZipFile(io.BytesIO(answer.content))
    names = sorted(archive.namelist())
    clips = [n for n in names if n.endswith(".mp4")]
    assert len(clips) == 2 and len(names) == 4, names  # the gap splits the range in two
    for clip in clips:
        data = archive.read(clip)
        manifest = json.loads(archive.read(clip + MANIFEST_SUFFIX))
        assert manifest["clip"]["sha256"] == hashlib.sha256(data).hexdigest()
        key = manifest["key"]["public_key"]
        assert signature_valid(key, manifest["signature"], canonical(manifest))
        assert probe(data, tmp_path)["streams"][0]["codec_name"] == "h264"
    assert not list(recorded.recordings.rglob("*.manifest.json"))  # nothing in the tree
    assert (
        recorded.get(
            f"/export?path=cam01&start={format_ms(start)}&duration=5", auth=(BOB, BOB_PW)
        ).status_code
        == 403
    )


@pytest.mark.timeout(120)
def test_range_deleted_while_played_ends_cleanly(recorded: Recorded, tmp_path: Path) -> None:
    """Files of the range vanish after the request was planned: a short clip, one log line.

    Retention deletes the row and then the file; here the file goes while its row still
    stands, which is what a request planned just before the janitor's pass meets.
    """
    segments = recorded.segments()
    first_end, _ = recorded.gap
    run = [s for s in segments if s[3] <= first_end]
    for _, path, _, _ in run[2:]:
        os.unlink(recorded.recordings / path)
    answer = recorded.get(f"/get?path=cam01&start={format_ms(run[0][2])}&duration=30")
    assert answer.status_code == 200
    duration = float(probe(answer.content, tmp_path)["format"]["duration"])
    assert duration < 2 * 4 + GOP_SECONDS + 0.5  # what was left: two segments
    # HLS: the gone file answers 404, not a traceback.
    gone = recorded.get(f"/hls/cam01/{run[-1][0]}.mp4")
    assert gone.status_code == 404
    # Every file gone: 404 with the gaps, never an empty 200.
    for _, path, _, _ in run[:2]:
        os.unlink(recorded.recordings / path)
    answer = recorded.get(f"/get?path=cam01&start={format_ms(run[0][2])}&duration=8")
    assert answer.status_code == 404
    log = wait_until(lambda: "ended early" in recorded.livestream.log()
                     and recorded.livestream.log(), 10, "the log line")  # fmt: skip
    assert "Traceback" not in log
    # A download the client abandons stops its ffmpeg; none is left behind.
    with requests.get(
        recorded.base + f"/get?path=cam01&start={format_ms(recorded.gap[1])}&duration=60",
        auth=(ALICE, ALICE_PW),
        stream=True,
        timeout=30,
    ) as left:
        next(left.iter_content(1024))  # fmt: skip
    daemon = psutil.Process(recorded.livestream.proc.pid)
    wait_until(lambda: not daemon.children(), 30, "no ffmpeg left running")
