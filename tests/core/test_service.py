"""The service runtime, run for real: a child process, a real AF_UNIX notify socket, signals."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from nvr.core.notify import to_latin1, watchdog_interval
from nvr.core.process import child_environment
from nvrtest import NotifySocket, query_state, wait_until

SAMPLE = Path(__file__).with_name("sample_daemon.py")
WriteConfig = Callable[..., Path]


_started: list[subprocess.Popen[str]] = []


@pytest.fixture(autouse=True)
def _reap_samples() -> Iterator[None]:
    """Kill any sample daemon a failing test left behind."""
    yield
    while _started:
        proc = _started.pop()
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def start_sample(config: Path, notify: NotifySocket | None, **env: str) -> subprocess.Popen[str]:
    environ = child_environment()
    environ.pop("JOURNAL_STREAM", None)
    if notify is not None:
        environ["NOTIFY_SOCKET"] = str(notify.path)
    environ.update(env)
    proc = subprocess.Popen(
        [sys.executable, str(SAMPLE), "--config", str(config)],
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _started.append(proc)
    return proc


def start_ready(config: Path, notify: NotifySocket) -> subprocess.Popen[str]:
    """The sample daemon started and past READY=1."""
    proc = start_sample(config, notify)
    notify.wait_for(lambda m: m.startswith("READY=1"))
    return proc


def heartbeat(config: Path) -> dict[str, object]:
    state_file = yaml.safe_load(config.read_text())["storage"]["state_file"]
    conn = sqlite3.connect(state_file)
    conn.row_factory = sqlite3.Row
    row = conn.execute("SELECT * FROM heartbeats WHERE daemon = 'nvr-sample'").fetchone()
    conn.close()
    return dict(row)


def stop(proc: subprocess.Popen[str]) -> tuple[int, str]:
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=10)
    return proc.returncode, stderr


def test_ready_status_watchdog_and_clean_stop(
    write_config: WriteConfig, notify: NotifySocket
) -> None:
    config = write_config()
    proc = start_sample(config, notify, WATCHDOG_USEC="200000")
    ready = notify.wait_for(lambda m: m.startswith("READY=1"))
    # The arrow is not latin-1: sdnotify alone would have dropped this whole message.
    assert ready == "READY=1\nSTATUS=watching 1 cameras -> Gate"
    row = heartbeat(config)
    assert row["state"] == "running"
    assert row["pid"] == proc.pid
    assert row["status"] == "watching 1 cameras → Gate"

    since = time.monotonic()
    time.sleep(1.5)
    # Every half of WATCHDOG_USEC (0.1 s): allow a wide margin for a loaded machine.
    assert notify.count_since(since, "WATCHDOG=1") >= 5

    returncode, stderr = stop(proc)
    assert returncode == 0, stderr
    assert any(m.startswith("STOPPING=1") for m in notify.texts())
    assert heartbeat(config)["state"] == "stopped"
    assert "Traceback" not in stderr


def test_a_restart_after_kill_9_is_marked_as_a_crash_a_clean_one_is_not(
    write_config: WriteConfig, notify: NotifySocket
) -> None:
    config = write_config()
    first = start_ready(config, notify)
    assert heartbeat(config)["crashed_at_ms"] is None
    first.kill()
    first.communicate()
    second = start_sample(config, None)
    wait_until(lambda: heartbeat(config)["pid"] == second.pid, 10, "the new heartbeat")
    row = heartbeat(config)
    assert isinstance(row["crashed_at_ms"], int) and row["crashed_at_ms"] >= row["started_at_ms"]
    returncode, stderr = stop(second)
    assert returncode == 0
    assert f"the previous run (pid {first.pid}) ended without stopping" in stderr
    crashed_at = heartbeat(config)["crashed_at_ms"]
    # After a clean stop, the next start is no crash: the old mark stays, dated.
    third = start_sample(config, None)
    wait_until(lambda: heartbeat(config)["pid"] == third.pid, 10, "the third heartbeat")
    assert heartbeat(config)["crashed_at_ms"] == crashed_at
    returncode, stderr = stop(third)
    assert "ended without stopping" not in stderr


def test_hung_work_loop_stops_the_watchdog_pings(
    write_config: WriteConfig, notify: NotifySocket, tmp_path: Path
) -> None:
    start_sample(write_config(), notify, WATCHDOG_USEC="200000")
    notify.wait_for(lambda m: m == "WATCHDOG=1")
    (tmp_path / "state" / "hang").touch()
    time.sleep(0.5)  # let the loop enter the hanging tick
    since = time.monotonic()
    time.sleep(1.0)
    assert notify.count_since(since, "WATCHDOG=1") == 0


def test_no_watchdog_without_watchdog_usec(write_config: WriteConfig, notify: NotifySocket) -> None:
    proc = start_ready(write_config(), notify)
    time.sleep(0.5)
    returncode, _ = stop(proc)
    assert returncode == 0
    assert "WATCHDOG=1" not in notify.texts()


def test_sighup_applies_a_new_config_and_rejects_a_bad_one(
    write_config: WriteConfig, notify: NotifySocket
) -> None:
    config = write_config()
    proc = start_ready(config, notify)

    write_config(
        cameras=[
            {"id": "cam01", "name": "Gate", "url": "rtsp://a:pw-one1@h/1"},
            {"id": "cam02", "name": "Yard", "url": "rtsp://a:pw-two2@h/2"},
        ]
    )
    proc.send_signal(signal.SIGHUP)
    notify.wait_for(lambda m: m == "RELOADING=1")
    notify.wait_for(lambda m: m == "STATUS=watching 2 cameras -> Gate, Yard")

    write_config(raw=config.read_text().replace("cameras:", "camera:"))
    proc.send_signal(signal.SIGHUP)
    # Each reload ends with a bare READY=1, rejected or not (start-up sends it with STATUS).
    wait_until(lambda: notify.texts().count("READY=1") == 2, 30, "the second reload's end")
    assert proc.poll() is None, "a bad config on reload must not stop the daemon"
    assert heartbeat(config)["status"] == "watching 2 cameras → Gate, Yard"

    returncode, stderr = stop(proc)
    assert returncode == 0
    rejected = [line for line in stderr.splitlines() if "reload rejected" in line]
    assert len(rejected) == 1
    assert f"{config}: camera: unknown key" in rejected[0]


def test_failing_tick_degrades_then_recovers(
    write_config: WriteConfig, notify: NotifySocket, tmp_path: Path
) -> None:
    config = write_config()
    proc = start_ready(config, notify)
    flag = tmp_path / "state" / "tick-error"
    flag.touch()
    deadline = time.monotonic() + 15
    while heartbeat(config)["state"] != "degraded" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert heartbeat(config)["state"] == "degraded"
    assert proc.poll() is None
    flag.unlink()
    deadline = time.monotonic() + 15
    while heartbeat(config)["state"] != "running" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert heartbeat(config)["state"] == "running"
    returncode, stderr = stop(proc)
    assert returncode == 0
    # Logged once with its traceback, not once per tick.
    assert stderr.count("tick failed") == 1
    assert stderr.count("RuntimeError: simulated failure in a tick") == 1


def test_under_journald_lines_carry_syslog_priority_and_no_password(
    write_config: WriteConfig, notify: NotifySocket
) -> None:
    # Without journald's socket (a container): the prefixed stderr lines journald would read.
    proc = start_sample(
        write_config(), notify, JOURNAL_STREAM="8:12345", NVR_JOURNAL_SOCKET="/nonexistent"
    )
    # Past READY=1 its SIGTERM handler is in place and "would connect" has been logged.
    notify.wait_for(lambda m: m.startswith("READY=1"))
    returncode, stderr = stop(proc)
    assert returncode == 0
    lines = stderr.splitlines()
    assert lines, "the daemon logged nothing"
    assert all(line[:3] in ("<6>", "<4>", "<3>") for line in lines), lines
    connect = next(line for line in lines if "would connect" in line)
    assert (
        connect
        == "<6>nvr.sample: would connect camera=cam01 via rtsp://admin:***@127.0.0.1:8554/cam01"
    )
    assert "s3cr3t-pw" not in stderr


def test_missing_config_is_one_line_and_exit_1(tmp_path: Path) -> None:
    proc = start_sample(tmp_path / "missing.yaml", None)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 1
    assert (
        stderr.strip() == f"nvr-sample: error: {tmp_path / 'missing.yaml'}: config file not found"
    )


def test_state_directory_missing_is_one_line_and_exit_1(
    write_config: WriteConfig, tmp_path: Path
) -> None:
    state_file = tmp_path / "absent" / "state.db"
    config = write_config(storage={"recordings_dir": str(tmp_path), "state_file": str(state_file)})
    proc = start_sample(config, None)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 1
    assert stderr.strip() == (
        f"nvr-sample: error: state file {state_file}: directory {state_file.parent} does not exist"
    )


def test_watchdog_interval_is_half_of_watchdog_usec() -> None:
    assert watchdog_interval({"WATCHDOG_USEC": "30000000"}) == 15.0
    assert watchdog_interval({}) is None
    assert watchdog_interval({"WATCHDOG_USEC": "0"}) is None
    # Inherited by a child: not ours to ping.
    other = str(os.getpid() + 1)
    assert watchdog_interval({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": other}) is None
    mine = str(os.getpid())
    assert watchdog_interval({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": mine}) == 15.0


def test_status_text_is_folded_to_latin1() -> None:
    assert to_latin1("café → ok") == "café -> ok"
    assert to_latin1("Kamera Gerbang Utara 🎥") == "Kamera Gerbang Utara ?"
    assert to_latin1("two\nlines") == "two lines"
    # Fullwidth letters decompose to plain ones.
    assert to_latin1("\uff46\uff55\uff4c\uff4c") == "full"


def test_children_do_not_inherit_the_notify_socket() -> None:
    env = child_environment({"NOTIFY_SOCKET": "/run/x", "WATCHDOG_USEC": "1", "PATH": "/bin"})
    assert env == {"PATH": "/bin"}
    assert json.dumps(env)


def test_crashes_that_make_a_restart_loop_leave_one_critical_event(
    write_config: WriteConfig,
) -> None:
    """Issue 24: head office hears of a restart loop (nvr-report sends critical as alarms)."""
    config = write_config(health={"crash_loop_count": 2, "crash_loop_window_seconds": 300})
    state = Path(yaml.safe_load(config.read_text())["storage"]["state_file"])

    def beating(proc: subprocess.Popen[str]) -> bool:
        pids = "SELECT pid FROM heartbeats WHERE daemon = 'nvr-sample'"
        return query_state(state, pids) == [(proc.pid,)]

    for run in range(3):
        proc = start_sample(config, None)
        wait_until(lambda p=proc: beating(p), 30, f"run {run} beating")
        proc.kill()
        proc.communicate()
    last = start_sample(config, None)
    wait_until(lambda: beating(last), 30, "the last run beating")
    assert stop(last)[0] == 0
    rows = query_state(
        state, "SELECT severity, message FROM events WHERE kind = 'daemon_restart_loop'"
    )
    # Three crashes, the loop reached at the second: said once, not at every crash after.
    assert rows == [
        ("critical", "nvr-sample crashed 2 times within 5 min: restart loop"
         " (journalctl -u nvr-sample)")
    ]  # fmt: skip
