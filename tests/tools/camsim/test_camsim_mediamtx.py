"""The private mediamtx instance: free ports, API readiness, clean stop, clear errors."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from nvr.core.tools import require_tool
from nvr_camsim import ClipSpec, MediamtxError, MediamtxServer, Variant, ensure_clip
from nvr_camsim.publisher import Publisher

from .conftest import BITRATE, HEIGHT, WIDTH
from .media import probe

pytestmark = pytest.mark.timeout(60)


def test_open_server_publishes_and_stops_cleanly(tmp_path: Path) -> None:
    clip = ensure_clip(ClipSpec(Variant.NORMAL, WIDTH, HEIGHT, BITRATE))
    with MediamtxServer(tmp_path) as server:
        pid = server.pid
        assert pid is not None
        assert server.list_paths() == []
        publisher = Publisher("demo", clip, server.rtsp_url("demo"), require_tool("ffmpeg"))
        publisher.start()
        try:
            assert server.wait_available(["demo"], timeout=15) == set()
            result = probe(server.rtsp_url("demo"))  # no authorize: anyone may read
            assert result.ok, result.error
            assert server.available_paths() == {"demo"}
        finally:
            publisher.stop()
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert not (tmp_path / "mediamtx.pid").exists()
    config = (tmp_path / "mediamtx.yml").read_text()
    assert "rtspTransports:\n- tcp" in config
    assert "hls: false" in config


def test_busy_port_is_a_one_line_error(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(MediamtxError, match="address already in use") as caught:
            MediamtxServer(tmp_path, rtsp_port=port).start()
    assert "\n" not in str(caught.value)


OWNER = """
import sys
from pathlib import Path
from threading import Event
from nvr_camsim import MediamtxServer
server = MediamtxServer(Path(sys.argv[1]))
server.start()
print(server.pid, flush=True)
Event().wait()
"""


def test_mediamtx_left_by_a_killed_run_is_stopped(tmp_path: Path) -> None:
    owner = subprocess.Popen(
        [sys.executable, "-c", OWNER, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    with owner:
        assert owner.stdout is not None
        orphan = psutil.Process(int(owner.stdout.readline()))
        owner.kill()  # like kill -9: no cleanup, mediamtx survives in its own session
    assert orphan.is_running()
    with MediamtxServer(tmp_path) as server:
        assert server.list_paths() == []
        assert not orphan.is_running() or orphan.status() == psutil.STATUS_ZOMBIE


def test_a_run_dir_in_use_is_refused(tmp_path: Path) -> None:
    with MediamtxServer(tmp_path) as first:
        with pytest.raises(MediamtxError, match=f"in use by pid {os.getpid()}"):
            MediamtxServer(tmp_path).start()
        assert first.running


def test_missing_binary_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NVR_MEDIAMTX_BIN", str(tmp_path / "no-such-mediamtx"))
    with pytest.raises(Exception, match="mediamtx not found"):
        MediamtxServer(tmp_path).start()
