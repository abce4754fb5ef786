"""nvr-hddmon run for real: a child process, a real notify socket, a recorder writing beside it."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from nvr.core.process import child_environment
from nvr.core.state import now_ms
from nvrtest import NotifySocket
from nvrtest.recordings import HOUR_MS, fill, make_env

pytestmark = pytest.mark.timeout(90)

WRITER = Path(__file__).with_name("segment_writer.py")


@pytest.fixture
def children() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def test_daemon_runs_for_real_while_a_recorder_keeps_writing(
    tmp_path: Path,
    recordings: Path,
    notify: NotifySocket,
    children: list[subprocess.Popen[str]],
) -> None:
    disk = {
        "high_watermark_percent": 85,
        "low_watermark_percent": 75,
        "check_interval_seconds": 0.3,
    }
    env = make_env(tmp_path, recordings, disk=disk)
    prefilled = fill(env, 80.0, now_ms() - 3 * HOUR_MS)
    environ = child_environment()
    environ.pop("JOURNAL_STREAM", None)
    environ["NOTIFY_SOCKET"] = str(notify.path)
    daemon = subprocess.Popen(
        [sys.executable, "-m", "nvr.hddmon.main", "--config", str(env.config_path)],
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    children.append(daemon)
    ready = notify.wait_for(lambda m: m.startswith("READY=1"))
    assert ready == "READY=1\nSTATUS=" + ready.split("STATUS=")[1]
    assert "STATUS=disk 8" in ready, "READY already carries the measured usage"
    assert ready.endswith("no writes in the last hour); deleted 0 segments today")

    # The recorder writes 2 x 256 KiB every 0.1 s (5 MB/s) onto a 57 MB disk for 5 s:
    # without the janitor the disk would be full within two seconds.
    result = tmp_path / "writer.json"
    writer_env = {**os.environ, "PYTHONPATH": str(WRITER.parent)}
    writer = subprocess.Popen(
        [sys.executable, str(WRITER), str(env.config.storage.state_file), str(recordings),
         "5", "0.1", str(256 * 1024), str(result)],
        env=writer_env,
        text=True,
    )  # fmt: skip
    children.append(writer)
    assert writer.wait(timeout=60) == 0
    outcome = json.loads(result.read_text())

    assert outcome["errors"] == [], "the recorder hit a full disk or a locked database"
    assert len(outcome["written"]) >= 40
    newest = outcome["written"][-10:]
    assert all((recordings / p).exists() for p in newest), "the janitor deleted fresh video"
    assert not (recordings / prefilled[0]).exists(), "the oldest video went first"
    status = notify.wait_for(lambda m: m.startswith("STATUS=disk ") and "deleted 0 " not in m)
    assert "% (" in status and " free, " in status

    daemon.send_signal(signal.SIGTERM)
    _, stderr = daemon.communicate(timeout=20)
    assert daemon.returncode == 0, stderr
    assert any(m.startswith("STOPPING=1") for m in notify.messages)
    assert "Traceback" not in stderr
    assert "deleted camera=cam01 path=" in stderr
    # "reached", or "is about to reach" when the look-ahead saw the writes coming first.
    assert re.search(r"(reached|is about to reach) the high watermark 85%", stderr), stderr
    conn = sqlite3.connect(env.config.storage.state_file)
    state = conn.execute("SELECT state FROM heartbeats WHERE daemon = 'nvr-hddmon'").fetchone()
    conn.close()
    assert state == ("stopped",)
