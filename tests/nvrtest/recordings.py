"""Recordings the way nvr-backup writes them, on a real small filesystem, and an nvr-hddmon.

Shared by tests/hddmon and tests/cli (`nvrctl protect`); the fixtures `small_fs` and
`recordings` are imported by their conftests.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
import pytest
import yaml

from nvr.core.config import Config, load_config
from nvr.core.state import StateStore, now_ms
from nvr.hddmon.daemon import HddmonDaemon
from nvr.hddmon.smart import Runner
from nvrtest import SteppingClock, loop_mounted

SEGMENT_MS = 60_000
SEGMENT_BYTES = 512 * 1024
HOUR_MS = 3_600_000
DAY_MS = 86_400_000


@dataclass
class Env:
    """One test's appliance: config file, state file, recordings filesystem."""

    config_path: Path
    config: Config
    store: StateStore
    root: Path

    def percent(self) -> float:
        """Usage of the recordings filesystem as df shows it."""
        usage = psutil.disk_usage(str(self.root))
        return 100.0 * usage.used / (usage.used + usage.free)


def write_config(tmp_path: Path, root: Path, **sections: Any) -> Path:
    """Write nvr.yaml with two cameras; `sections` replace or add top-level sections."""
    (tmp_path / "state").mkdir(exist_ok=True)
    data: dict[str, Any] = {
        "site": {"id": "test-01"},
        "storage": {
            "recordings_dir": str(root),
            "state_file": str(tmp_path / "state" / "state.db"),
        },
        # The janitor tests measure this small disk to the byte: the daily state-file copy
        # (written to it too) is off here and tested on its own in test_state_backup.py.
        "disk": {"headroom_hours": 0, "check_interval_seconds": 0.05, "state_backup_hours": 0},
        "cameras": [
            {"id": "cam01", "name": "Gate", "url": "rtsp://admin:s3cr3t-pw@127.0.0.1:8554/cam01"},
            {"id": "cam02", "name": "Yard", "url": "rtsp://127.0.0.1:8554/cam02"},
        ],
    }
    for key, value in sections.items():
        if key == "disk":
            data["disk"] = {**data["disk"], **value}
        else:
            data[key] = value
    path = tmp_path / "nvr.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def make_env(tmp_path: Path, root: Path, **sections: Any) -> Env:
    """Config + opened state file."""
    path = write_config(tmp_path, root, **sections)
    config = load_config(path)
    return Env(path, config, StateStore.open(config.storage.state_file), root)


def segment_path(camera: str, start_ms: int, ext: str = "mp4") -> str:
    """`cam01/2026-11-21/08-00-00.mp4`, the name nvr-backup gives a segment (UTC)."""
    start = datetime.fromtimestamp(start_ms / 1000, UTC)
    return f"{camera}/{start:%Y-%m-%d}/{start:%H-%M-%S}.{ext}"


def write_file(root: Path, relative: str, size: int) -> Path:
    """Write and fsync a file and its folder, like nvr-backup before it commits the row."""
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        handle.write(os.urandom(size))
        handle.flush()
        os.fsync(handle.fileno())
    fd = os.open(path.parent, os.O_RDONLY)
    os.fsync(fd)
    os.close(fd)
    return path


def add_segment(
    store: StateStore,
    root: Path,
    camera: str,
    start_ms: int,
    size: int = SEGMENT_BYTES,
    file: bool = True,
) -> str:
    """One segment: the file (unless `file` is False), then its index row."""
    relative = segment_path(camera, start_ms)
    if file:
        write_file(root, relative, size)
    with store.write() as conn:
        conn.execute(
            "INSERT INTO segments (camera, path, start_ms, end_ms, bytes, sha256, chain_sha256,"
            " status, created_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?, 'ok', ?)",
            (
                camera,
                relative,
                start_ms,
                start_ms + SEGMENT_MS,
                size,
                hashlib.sha256(relative.encode()).hexdigest(),
                None,
                now_ms(),
            ),
        )
    return relative


def fill(
    env: Env, percent: float, first_ms: int, cameras: tuple[str, ...] = ("cam01", "cam02")
) -> list[str]:
    """Add segments round-robin over `cameras`, one minute apart, until usage >= percent."""
    paths: list[str] = []
    start = first_ms
    while env.percent() < percent:
        for camera in cameras:
            paths.append(add_segment(env.store, env.root, camera, start))
        start += SEGMENT_MS
    return paths


def indexed(store: StateStore) -> dict[str, str]:
    """path → status of every row."""
    return {r[0]: r[1] for r in store.read().execute("SELECT path, status FROM segments")}


def events(store: StateStore, kind: str | None = None) -> list[dict[str, Any]]:
    """Events (optionally of one kind), oldest first."""
    rows = store.read().execute("SELECT * FROM events ORDER BY id").fetchall()
    found = [dict(row) for row in rows]
    return [e for e in found if kind is None or e["kind"] == kind]


def no_smart(argv: Any) -> str:
    """A runner for tests that configure no SMART device; never called."""
    raise AssertionError("smartctl must not run without smart_devices")


class Harness:
    """The daemon plus the monotonic clock that drives its schedule."""

    def __init__(self, daemon: HddmonDaemon, clock: SteppingClock) -> None:
        self.daemon = daemon
        self.clock = clock

    def __getattr__(self, name: str) -> Any:
        return getattr(self.daemon, name)


def make_daemon(
    env: Env,
    clock_ms: Callable[[], int] = now_ms,
    smart_runner: Runner = no_smart,
) -> Harness:
    """The daemon in-process, with the test's wall clock and a stepping monotonic clock."""
    clock = SteppingClock()
    daemon = HddmonDaemon(
        env.config,
        env.store,
        threading.Event(),
        clock_ms=clock_ms,
        monotonic=clock,
        smart_runner=smart_runner,
    )
    return Harness(daemon, clock)


# Between two ticks a bit more than an hour passes: every periodic check (space, health,
# SMART) is due on every tick, while within a tick the clock stands still, so the 2 s
# deletion budget never runs out in a test.
TICK_STEP_SECONDS = 3601.0


def settle(harness: Harness, start: bool = True, max_ticks: int = 50) -> None:
    """start(), then tick until the janitor and the reconcile pass have nothing left to do."""
    daemon = harness.daemon
    if start:
        daemon.start()
    for _ in range(max_ticks):
        harness.clock.now += TICK_STEP_SECONDS
        daemon.tick()
        if not daemon.busy and not daemon.reconciler.active:
            return
    raise AssertionError("the daemon did not settle")


IMAGE_SIZE = "64M"


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """Mount point of a fresh 64 MiB ext4 filesystem (about 57 MB usable)."""
    with loop_mounted(tmp_path, IMAGE_SIZE) as mount_point:
        yield mount_point


@pytest.fixture
def recordings(small_fs: Path) -> Path:
    """The recordings directory at the root of the small filesystem."""
    return small_fs
