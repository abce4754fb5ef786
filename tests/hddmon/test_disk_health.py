"""Read-only filesystem and the write probe, on a real ext4 filesystem."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from nvrtest.recordings import events, make_daemon, make_env, settle

pytestmark = pytest.mark.timeout(60)


def test_read_only_filesystem_is_critical_until_it_is_writable_again(
    tmp_path: Path, recordings: Path
) -> None:
    env = make_env(tmp_path, recordings)
    daemon = make_daemon(env)
    settle(daemon)
    probe_ms = daemon.heartbeat_detail()["probe_ms"]
    assert probe_ms > 0
    assert not (recordings / ".nvr-hddmon-probe").exists()

    subprocess.run(["mount", "-o", "remount,ro", str(recordings)], check=True)
    try:
        settle(daemon, start=False)
        read_only = events(env.store, "disk_read_only")
        assert len(read_only) == 1 and read_only[0]["severity"] == "critical"
        assert "read-only: recording has stopped" in read_only[0]["message"]
        assert "disk read-only" in daemon.status_line()
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(recordings)], check=True)

    settle(daemon, start=False)
    assert len(events(env.store, "disk_writable")) == 1
    assert "read-only" not in daemon.status_line()
