"""One camera recorded for real, shared by the playback tests of a module.

camsim publishes cam01 (H.264, 1 s GOP); nvr-backup records it in 4 s fMP4 segments; it
is stopped for a while in the middle so the recording has a gap with a known reason
(`shutdown`); nvr-livestream serves the playback API from the same config and state file.
mediamtx's API is left unanswered: playback does not need live view.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from nvr.camsim import CameraSimulator
from nvr.camsim.mediamtx import free_port
from nvr.core.passwords import hash_password
from nvrtest import Child, NotifySocket, query_state, wait_until

ALICE, ALICE_PW = "alice", "alice-plays-back-4"  # every camera, may protect
BOB, BOB_PW = "bob", "bob-sees-cam02-only"  # cam02 only
SEGMENT_SECONDS = 4
WIDTH, HEIGHT, BITRATE = 640, 360, 2_000_000
GAP_SECONDS = 6


@dataclass
class Recorded:
    """The recording box: config, state, the running nvr-livestream."""

    root: Path
    config_path: Path
    state_file: Path
    recordings: Path
    port: int
    livestream: Child
    backup: Child
    gap: tuple[int, int]  # ms: last segment end of the first run, first start of the second

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def get(self, endpoint: str, auth: tuple[str, str] | None = (ALICE, ALICE_PW),
            **kwargs: Any) -> requests.Response:  # fmt: skip
        return requests.get(self.base + endpoint, auth=auth, timeout=60, **kwargs)

    def segments(self) -> list[tuple[int, str, int, int]]:
        return [
            (int(r[0]), str(r[1]), int(r[2]), int(r[3]))
            for r in query_state(
                self.state_file,
                "SELECT id, path, start_ms, end_ms FROM segments WHERE camera = 'cam01'"
                " AND status = 'ok' ORDER BY start_ms",
            )
        ]


def _config(root: Path, camera_url: str, port: int) -> dict[str, Any]:
    return {
        "site": {"id": "test-01"},
        "storage": {
            "recordings_dir": str(root / "recordings"),
            "state_file": str(root / "state" / "state.db"),
        },
        "recording": {"segment_seconds": SEGMENT_SECONDS},
        "livestream": {
            "listen": f"127.0.0.1:{port}",
            "mediamtx_api": f"http://127.0.0.1:{free_port()}",
            "public_host": "127.0.0.1",
            "viewers": [
                {
                    "user": ALICE,
                    "password_hash": hash_password(ALICE_PW),
                    "cameras": "all",
                    "may_protect": True,
                },
                {"user": BOB, "password_hash": hash_password(BOB_PW), "cameras": ["cam02"]},
            ],
        },
        "cameras": [
            {"id": "cam01", "name": "Gate", "url": camera_url},
            {"id": "cam02", "name": "Yard", "url": camera_url.replace("cam01", "cam02")},
        ],
    }


def _count(state_file: Path, after_ms: int = 0) -> int:
    rows = query_state(
        state_file,
        "SELECT count(*) FROM segments WHERE camera = 'cam01' AND status = 'ok' AND start_ms >= ?",
        after_ms,
    )
    return int(rows[0][0]) if rows else 0


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Recorded]:
    """cam01 recorded in two runs with a gap between, and nvr-livestream serving playback."""
    root = tmp_path_factory.mktemp("playback")
    (root / "recordings").mkdir()
    (root / "state").mkdir()
    # 2 Mbit/s: ffmpeg writes the open segment in 256 KiB chunks, so about once a second
    # (at 300 kbit/s a 4 s segment would sit in ffmpeg's buffer until it closes).
    with CameraSimulator(root / "camsim", ["cam01"], width=WIDTH, height=HEIGHT,
                         bitrate=BITRATE) as sim:  # fmt: skip
        port = free_port()
        config_path = root / "nvr.yaml"
        config_path.write_text(yaml.safe_dump(_config(root, sim.camera_url("cam01"), port)))
        state_file = root / "state" / "state.db"
        backup = Child(root, "backup")
        livestream = Child(root, "livestream")
        notify = NotifySocket(Path(tempfile.mkdtemp(prefix="nvrpb-")) / "notify.sock")
        try:
            gap = _record_with_a_gap(backup, config_path, state_file)
            livestream.spawn(
                [sys.executable, "-m", "nvr.livestream.main", "--config", str(config_path)],
                NOTIFY_SOCKET=str(notify.path),
            )
            wait_until(lambda: notify.has("READY=1"), 30, "READY=1 from nvr-livestream")
            yield Recorded(
                root, config_path, state_file, root / "recordings", port, livestream, backup, gap
            )
        finally:
            for child in (livestream, backup):
                if child.proc is not None:
                    child.kill()
            notify.close()
        text = livestream.log()
        for secret in (ALICE_PW, BOB_PW, sim.password("cam01")):
            assert secret not in text, "a password reached nvr-livestream's log"


def _record_with_a_gap(backup: Child, config_path: Path, state_file: Path) -> tuple[int, int]:
    """Record 4 segments, stop nvr-backup for GAP_SECONDS, record 3 more; the gap's ends."""
    argv = [sys.executable, "-m", "nvr.backup.main", "--config", str(config_path)]
    backup.spawn(argv)
    wait_until(lambda: _count(state_file) >= 4, 90, "4 segments of the first run")
    backup.stop()
    first_end = int(query_state(state_file, "SELECT max(end_ms) FROM segments")[0][0])
    wait_until(lambda: _now_ms() - first_end > GAP_SECONDS * 1000, 30, "a gap of a few seconds")
    backup.spawn(argv)
    wait_until(lambda: _count(state_file, first_end + 1) >= 3, 90, "3 segments after the gap")
    rows = query_state(
        state_file, "SELECT min(start_ms) FROM segments WHERE start_ms > ?", first_end
    )
    return first_end, int(rows[0][0])


def _now_ms() -> int:
    return int(time.time() * 1000)
