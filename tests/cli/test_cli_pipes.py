"""`nvrctl ... | head`: the reader closing the pipe early is no error worth a traceback."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from nvr.core.config import load_config
from nvr.core.state import StateStore, now_ms

pytestmark = pytest.mark.timeout(60)

SEGMENTS = 5_000  # far more output than a pipe buffer (64 KiB) holds


def test_recordings_list_into_head_exits_quietly(
    write_config: Callable[..., Path], nvrctl: list[str]
) -> None:
    config_path = write_config()
    store = StateStore.open(load_config(config_path).storage.state_file)
    start = now_ms() - SEGMENTS * 60_000
    with store.write() as conn:
        conn.executemany(
            "INSERT INTO segments (camera, path, start_ms, end_ms, bytes, status,"
            " created_at_ms) VALUES ('cam01', ?, ?, ?, 500000, 'ok', ?)",
            [(f"cam01/{i}.mp4", start + i * 60_000, start + (i + 1) * 60_000, start)
             for i in range(SEGMENTS)],
        )  # fmt: skip
    store.close()
    argv = " ".join([*nvrctl, "recordings", "list", "--camera", "cam01", "--config"])
    done = subprocess.run(
        ["bash", "-c", f"set -o pipefail; {argv} {config_path} | head -n 2"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert len(done.stdout.splitlines()) == 2
    assert done.stderr == "", done.stderr
    assert done.returncode == 141  # what `cat big | head` reports: killed by SIGPIPE
