"""Structured logs from a daemon on the real runtime: journald's native protocol with
NVR_* fields, and JSON lines elsewhere; secrets masked in both (issue 21)."""

from __future__ import annotations

import json
import signal
import socket
import struct
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from nvr.core.process import child_environment
from nvrtest import query_state, wait_until

pytestmark = pytest.mark.timeout(60)

SAMPLE = Path(__file__).resolve().parents[1] / "core" / "sample_daemon.py"
PASSWORD = "s3cr3t-pw"  # in base_config's camera URL


def parse_native(datagram: bytes) -> dict[str, str]:
    """journald's side of the native protocol (systemd.io/JOURNAL_NATIVE_PROTOCOL)."""
    fields: dict[str, str] = {}
    rest = datagram
    while rest:
        line, _, after = rest.partition(b"\n")
        if b"=" in line:
            key, _, value = line.partition(b"=")
            fields[key.decode()] = value.decode()
            rest = after
        else:
            (size,) = struct.unpack("<Q", after[:8])
            fields[line.decode()] = after[8 : 8 + size].decode()
            rest = after[8 + size + 1 :]
    return fields


class Journal:
    """A datagram socket that receives what a daemon sends to journald."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.2)
        self.records: list[dict[str, str]] = []

    def drain(self) -> list[dict[str, str]]:
        while True:
            try:
                self.records.append(parse_native(self.sock.recv(1 << 20)))
            except TimeoutError:
                return self.records


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    receiver = Journal(tmp_path / "journal.sock")
    yield receiver
    receiver.sock.close()


def start(config: Path, *extra: str, **env: str) -> subprocess.Popen[str]:
    environ = child_environment()
    environ.pop("JOURNAL_STREAM", None)
    environ.update(env)
    return subprocess.Popen(
        [sys.executable, str(SAMPLE), "--config", str(config), *extra],
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def stop(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr
    return stderr


def test_journal_gets_fields_to_filter_one_camera_across_daemons(
    write_config: Callable[..., Path], journal: Journal
) -> None:
    config = write_config()
    env = {"JOURNAL_STREAM": "8:1234", "NVR_JOURNAL_SOCKET": str(journal.path)}
    first = start(config, **env)
    wait_until(lambda: any("ready" in r["MESSAGE"] for r in journal.drain()), 30, "ready")
    first.kill()  # a crash: the next start records a daemon_crashed event
    first.communicate()
    second = start(config, **env)
    wait_until(
        lambda: any(r.get("NVR_EVENT") == "daemon_crashed" for r in journal.drain()),
        30,
        "the crash event with its NVR_EVENT field",
    )
    assert stop(second) == "", "under journald nothing is written twice to stderr"
    records = journal.drain()
    camera = [r for r in records if r.get("NVR_CAMERA") == "cam01"]
    assert camera and "would connect camera=cam01" in camera[0]["MESSAGE"]
    assert {r["NVR_DAEMON"] for r in records} == {"nvr-sample"}
    assert {r["SYSLOG_IDENTIFIER"] for r in records} == {"nvr-sample"}
    crash = next(r for r in records if r.get("NVR_EVENT") == "daemon_crashed")
    assert crash["PRIORITY"] == "4"  # warning
    assert all(r["PRIORITY"] in {"2", "3", "4", "6", "7"} for r in records)
    assert not [r for r in records if PASSWORD in json.dumps(r)]


def running(state_file: Path, pid: int) -> bool:
    """The daemon's heartbeat says it runs (its signal handlers are in place)."""
    rows = query_state(state_file, "SELECT pid, state FROM heartbeats WHERE daemon = 'nvr-sample'")
    return tuple(rows[0] if rows else ()) == (pid, "running")


def json_lines(config: Path, state_file: Path, *extra: str) -> tuple[list[dict[str, Any]], str]:
    """Start the daemon, stop it once it runs, parse its stderr as JSON lines."""
    proc = start(config, *extra)
    wait_until(lambda: running(state_file, proc.pid), 30, "running")
    stderr = stop(proc)
    return [json.loads(line) for line in stderr.splitlines()], stderr


def test_json_lines_by_flag_or_config_key(
    write_config: Callable[..., Path], tmp_path: Path
) -> None:
    state_file = tmp_path / "state" / "state.db"
    for config, extra in (
        (write_config(), ("--log-format", "json")),
        (write_config(name="json.yaml", logging={"format": "json"}), ()),
    ):
        lines, stderr = json_lines(config, state_file, *extra)
        assert lines, "no log lines"
        assert {line["daemon"] for line in lines} == {"nvr-sample"}
        connect = next(line for line in lines if "would connect" in line["message"])
        assert connect["camera"] == "cam01" and connect["level"] == "info"
        assert connect["priority"] == 6 and connect["ts"].endswith("+00:00")
        assert PASSWORD not in stderr
