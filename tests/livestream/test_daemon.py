"""nvr-livestream for real: proxy mediamtx, simulated cameras, ffprobe/ffmpeg as viewers."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from nvr.cli import streams_cmd
from nvr_camsim import CameraSimulator

from .harness import (
    ALICE,
    ALICE_PW,
    BOB,
    BOB_PW,
    Livestream,
    ffprobe,
    video_codecs,
    wait_until,
    watching,
)

Make = Callable[..., Livestream]


@pytest.fixture
def ls(livestream: Make) -> Livestream:
    """nvr-livestream with cam01 and cam02, both paths in place."""
    started = livestream(["cam01", "cam02"])
    started.wait_paths({"cam01", "cam02"})
    return started


@pytest.mark.timeout(150)
def test_a_path_per_enabled_camera_and_viewers_get_video_over_rtsp_and_hls(
    livestream: Make, sim: CameraSimulator
) -> None:
    ls = livestream(["cam01", "cam02", "cam03"], disabled=("cam03",))
    ls.wait_paths({"cam01", "cam02"})
    assert ls.notify.has("READY=1")
    wait_until(lambda: ls.notify.has("STATUS=2 paths in sync; mediamtx up"), 30, "status in sync")

    rtsp = ffprobe(ls.rtsp_url("cam01", ALICE, ALICE_PW))
    assert video_codecs(rtsp) == ["h264"], rtsp.stderr
    hls = ffprobe(ls.hls_url("cam02", ALICE, ALICE_PW))
    assert video_codecs(hls) == ["h264"], hls.stderr

    assert ls.stop() == 0
    assert "nvr-livestream stopped" in ls.log()


@pytest.mark.timeout(150)
def test_nvrctl_streams_prints_the_url_table_with_live_state(
    ls: Livestream, sim: CameraSimulator, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_streams(ls.config_path) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["ID", "NAME", "LIVE", "READERS", "RTSP", "HLS", "WEBRTC"]
    cam01 = next(line for line in lines if line.startswith("cam01"))
    assert f"rtsp://127.0.0.1:{ls.ports.rtsp}/cam01" in cam01
    assert f"http://127.0.0.1:{ls.ports.hls}/cam01/index.m3u8" in cam01
    # On demand and nobody watches: the camera is not pulled, which is "idle", not down.
    assert " idle " in cam01
    ls.proxy.stop()
    assert run_streams(ls.config_path) == 0
    printed = capsys.readouterr()
    assert "live state unknown" in printed.err
    assert "cam02" in printed.out
    for camera in sim.camera_ids:
        assert sim.password(camera) not in printed.out + printed.err


def run_streams(config: Path) -> int:
    parser = argparse.ArgumentParser()
    streams_cmd.add_parser(parser.add_subparsers())
    args = parser.parse_args(["streams", "--config", str(config)])
    return int(args.func(args))


@pytest.mark.timeout(150)
def test_the_api_lists_permitted_cameras_with_urls_and_live_state_without_secrets(
    ls: Livestream, sim: CameraSimulator
) -> None:

    def cam01_live() -> dict[str, object] | None:
        answer = ls.api("/api/streams/cam01", (ALICE, ALICE_PW))
        live = answer.json()["live"]
        return answer.json() if live["available"] and live["inbound_bitrate_bps"] else None

    with watching(ls.rtsp_url("cam01", ALICE, ALICE_PW), ls.root / "viewer.log"):
        cam01 = wait_until(cam01_live, 60, "cam01 available with a bitrate in the API")
    assert cam01["live"]["state"] == "live"
    assert cam01["urls"] == {
        "rtsp": f"rtsp://127.0.0.1:{ls.ports.rtsp}/cam01",
        "hls": f"http://127.0.0.1:{ls.ports.hls}/cam01/index.m3u8",
        "webrtc": f"http://127.0.0.1:{ls.ports.webrtc}/cam01/",
    }
    assert cam01["live"]["readers"] == 1

    everything = ls.api("/api/streams", (ALICE, ALICE_PW))
    assert [s["id"] for s in everything.json()["streams"]] == ["cam01", "cam02"]
    only_bob = ls.api("/api/streams", (BOB, BOB_PW))
    assert [s["id"] for s in only_bob.json()["streams"]] == ["cam02"]
    assert ls.api("/api/streams/cam01", (BOB, BOB_PW)).status_code == 404
    assert ls.api("/api/streams", None).status_code == 401
    assert ls.api("/api/streams", (ALICE, "wrong")).status_code == 401

    for answer in (everything, only_bob):
        for camera in sim.camera_ids:
            assert sim.password(camera) not in answer.text

    # mediamtx's API (camera URLs with passwords) refuses any local caller but
    # nvr-livestream, viewers included.
    config_api = f"http://127.0.0.1:{ls.ports.api}/v3/config/paths/list"
    assert requests.get(config_api, timeout=10).status_code == 401
    assert requests.get(config_api, auth=(ALICE, ALICE_PW), timeout=10).status_code == 401


@pytest.mark.timeout(150)
def test_a_viewer_without_permission_is_refused_on_rtsp_and_hls(
    ls: Livestream, sim: CameraSimulator
) -> None:

    refused = ffprobe(ls.rtsp_url("cam01", BOB, BOB_PW))
    assert refused.returncode != 0
    assert "401" in refused.stderr
    anonymous = ffprobe(ls.rtsp_url("cam01"))
    assert "401" in anonymous.stderr

    hls = f"http://127.0.0.1:{ls.ports.hls}/cam01/index.m3u8"
    assert requests.get(hls, auth=(BOB, BOB_PW), timeout=30).status_code == 401
    assert requests.get(hls, timeout=30).status_code == 401
    # The same viewer does get the camera it is permitted.
    assert video_codecs(ffprobe(ls.rtsp_url("cam02", BOB, BOB_PW))) == ["h264"]
    assert "denied user=bob action=read path=cam01" in ls.log()


@pytest.mark.timeout(150)
def test_removing_a_camera_on_sighup_keeps_other_viewers_watching(
    ls: Livestream, sim: CameraSimulator
) -> None:
    with watching(ls.rtsp_url("cam01", ALICE, ALICE_PW), ls.root / "viewer.log") as viewer:
        before = wait_until(lambda: ls.proxy.readers("cam01"), 60, "a reader on cam01")

        ls.write_config(["cam01"])
        ls.reload()
        ls.wait_paths({"cam01"})
        # Let a few periodic reconciles pass too: none may touch cam01.
        done = ls.heartbeat().get("reconciles", 0)
        wait_until(lambda: ls.heartbeat().get("reconciles", 0) >= done + 2, 60, "2 reconciles")

        assert viewer.poll() is None, (ls.root / "viewer.log").read_text()
        assert ls.proxy.readers("cam01") == before
    assert "path=cam02: camera removed or disabled" in ls.log()


@pytest.mark.timeout(150)
def test_a_restarted_mediamtx_gets_its_paths_back(ls: Livestream, sim: CameraSimulator) -> None:

    ls.proxy.kill()
    wait_until(lambda: ls.heartbeat().get("mediamtx") == "down", 30, "daemon sees mediamtx down")
    ls.proxy.start()
    started = time.monotonic()
    ls.wait_paths({"cam01", "cam02"})
    restored_after = time.monotonic() - started

    assert video_codecs(ffprobe(ls.rtsp_url("cam02", ALICE, ALICE_PW))) == ["h264"]
    assert "mediamtx answers at" in ls.log()
    print(f"paths restored {restored_after:.1f} s after mediamtx answered")
