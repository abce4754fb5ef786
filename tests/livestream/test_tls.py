"""Viewers over TLS on a real mediamtx, and cameras pulled with the recorder's transport.

docs/design/security.md, invariant 9 (TLS: HLS and WebRTC over HTTPS, RTSPS, plain RTSP on
loopback only) and issue 17 (live view pulls a UDP-only camera over UDP). The proxy
mediamtx gets its config rendered exactly as `nvrctl mediamtx config` renders it on a box.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
import yaml

from nvr.camsim import CameraSimulator
from nvr.cli.main import main
from nvr.core.camera_media import remember_transport
from nvr.core.state import StateStore
from nvr.core.tools import require_tool
from nvr.livestream.constants import AUTH_ROUTE, MAX_REQUEST_BODY_BYTES
from nvr.livestream.mediamtx_tls import CERT_CREDENTIAL, KEY_CREDENTIAL
from nvrtest import relay_camera

from .harness import ALICE, ALICE_PW, SHIPPED_MEDIAMTX, Livestream, make_pair, wait_until

Make = Callable[..., Livestream]


def _ffprobe_codecs(url: str) -> subprocess.CompletedProcess[str]:
    argv = [require_tool("ffprobe"), "-v", "error", "-rtsp_transport", "tcp"]
    argv += ["-select_streams", "v", "-show_entries", "stream=codec_name", "-of", "csv=p=0"]
    return subprocess.run([*argv, url], capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.timeout(240)
def test_viewers_get_https_and_rtsps_and_a_udp_camera_is_pulled_over_udp(
    livestream: Make, sim: CameraSimulator, tmp_path: Path
) -> None:
    with relay_camera(tmp_path / "udpcam", sim.camera_url("cam03"), "udp") as udp_url:
        ls = livestream(
            ["cam01", "udpcam"],
            media_tls=True,
            camera_keys={"udpcam": {"url": udp_url, "rtsp_transport": "auto"}},
        )
        ls.wait_paths({"cam01", "udpcam"})
        cert = str(ls.tls_dir / CERT_CREDENTIAL)
        host = "127.0.0.1"

        # The API hands out TLS URLs only.
        urls = ls.api("/api/streams/cam01", (ALICE, ALICE_PW)).json()["urls"]
        assert urls == {
            "rtsp": f"rtsps://{host}:{ls.ports.rtsps}/cam01",
            "hls": f"https://{host}:{ls.ports.hls}/cam01/index.m3u8",
            "webrtc": f"https://{host}:{ls.ports.webrtc}/cam01/",
        }

        # HLS over HTTPS with the box's certificate pinned; no login, no playlist.
        def playlist() -> str | None:
            answer = requests.get(urls["hls"], auth=(ALICE, ALICE_PW), verify=cert, timeout=30)
            return answer.text if answer.status_code == 200 else None

        assert wait_until(playlist, 90, "an HLS playlist over HTTPS").startswith("#EXTM3U")
        assert requests.get(urls["hls"], verify=cert, timeout=30).status_code == 401
        webrtc = requests.get(urls["webrtc"], auth=(ALICE, ALICE_PW), verify=cert, timeout=30)
        assert webrtc.status_code == 200 and "<html" in webrtc.text.lower()

        # Plain HTTP on the TLS ports gets no playlist and no page.
        for port, path in ((ls.ports.hls, "cam01/index.m3u8"), (ls.ports.webrtc, "cam01/")):
            plain = requests.get(f"http://{host}:{port}/{path}", auth=(ALICE, ALICE_PW), timeout=30)
            assert plain.status_code == 400 and "#EXTM3U" not in plain.text

        # RTSPS read by ffprobe; plain RTSP listens on loopback only (rendered config).
        rtsps = _ffprobe_codecs(f"rtsps://{ALICE}:{ALICE_PW}@{host}:{ls.ports.rtsps}/cam01")
        assert rtsps.stdout.split() == ["h264"], rtsps.stderr
        rendered = yaml.safe_load(ls.proxy.config_path.read_text())
        assert rendered["rtspAddress"] == f"127.0.0.1:{ls.ports.rtsp}"
        assert rendered["rtspEncryption"] == "optional"

        # Issue 17: nvr-backup learned UDP for the camera; live view pulls it the same way.
        # Before that the path pulls over TCP and the camera answers 461.
        store = StateStore.open(ls.state_file)
        try:
            remember_transport(store, "udpcam", "udp")
        finally:
            store.close()
        wait_until(
            lambda: ls.proxy.api_get("/v3/config/paths/get/udpcam").get("rtspTransport") == "udp",
            30,
            "udpcam's path pulling over UDP",
        )
        udp_url_tls = f"rtsps://{ALICE}:{ALICE_PW}@{host}:{ls.ports.rtsps}/udpcam"
        udp = _ffprobe_codecs(udp_url_tls)
        assert udp.stdout.split() == ["h264"], udp.stderr

        # The auth callback reads mediamtx's small JSON question: a larger body is 413.
        callback = f"http://{host}:{ls.ports.listen}{AUTH_ROUTE}"
        big = b"{" + b" " * MAX_REQUEST_BODY_BYTES + b"}"
        assert requests.post(callback, data=big, timeout=10).status_code == 413
        assert requests.post(callback, data=b"{}", timeout=10).status_code == 401

        log = ls.log()
        assert "mediamtx serves viewers" not in log  # TLS as promised: no mismatch
        assert "path=udpcam: ['rtspTransport'] changed" in log

        # A mediamtx started without its unit's rendering (plain) is named in the log.
        ls.proxy.stop()
        wait_until(lambda: ls.heartbeat().get("mediamtx") == "down", 30, "mediamtx seen down")
        ls.proxy.render = None
        ls.proxy.start()
        wait_until(
            lambda: "mediamtx serves viewers without TLS but livestream.media_tls" in ls.log(),
            30,
            "the TLS mismatch named",
        )


def _nvr_yaml(tmp_path: Path, media_tls: str) -> Path:
    path = tmp_path / "nvr.yaml"
    storage = {"recordings_dir": str(tmp_path), "state_file": str(tmp_path / "state.db")}
    livestream = {"media_tls": media_tls, "rtsps_port": 8322}
    path.write_text(yaml.safe_dump({"site": {"id": "t-01"}, "storage": storage,
                                    "livestream": livestream}))  # fmt: skip
    return path


def _nvrctl(tmp_path: Path, media_tls: str, credentials: Path) -> int:
    argv = ["mediamtx", "config", "--config", str(_nvr_yaml(tmp_path, media_tls))]
    argv += ["--base", str(SHIPPED_MEDIAMTX), "--credentials", str(credentials)]
    return main([*argv, "--output", str(tmp_path / "mediamtx.yml")])


def _render(tmp_path: Path, media_tls: str, credentials: Path) -> dict[str, object]:
    assert _nvrctl(tmp_path, media_tls, credentials) == 0
    output = tmp_path / "mediamtx.yml"
    assert output.stat().st_mode & 0o777 == 0o644
    rendered: dict[str, object] = yaml.safe_load(output.read_text())
    return rendered


@pytest.mark.timeout(60)
def test_nvrctl_mediamtx_config_turns_tls_on_when_systemd_loaded_the_pair(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shipped = yaml.safe_load(SHIPPED_MEDIAMTX.read_text())
    loaded = tmp_path / "credentials"
    make_pair(loaded)
    rendered = _render(tmp_path, "auto", loaded)
    assert rendered["hlsEncryption"] is True and rendered["webrtcEncryption"] is True
    assert rendered["rtspEncryption"] == "optional"
    assert rendered["rtspAddress"] == "127.0.0.1:8554"  # the LAN gets RTSPS only
    assert rendered["rtspsAddress"] == ":8322"
    for server in ("rtsp", "hls", "webrtc"):
        assert rendered[f"{server}ServerKey"] == str(loaded / KEY_CREDENTIAL)
    assert rendered["paths"] == shipped["paths"] and rendered["authMethod"] == "http"

    # systemd's SetCredential= fallback when /etc/nvr/tls has no pair.
    empty = tmp_path / "empty"
    empty.mkdir()
    for name in (CERT_CREDENTIAL, KEY_CREDENTIAL):
        (empty / name).write_text("absent")
    assert _render(tmp_path, "auto", empty) == shipped
    assert _render(tmp_path, "off", loaded) == shipped

    capsys.readouterr()
    assert _nvrctl(tmp_path, "on", empty) == 1  # mediamtx does not start: the journal says why
    error = capsys.readouterr().err.strip()
    assert error.startswith("nvrctl: error: livestream.media_tls is on but mediamtx got no")
    assert "\n" not in error and len(error.splitlines()) == 1
