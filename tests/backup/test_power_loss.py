"""Power cuts, the rules on a real disk (docs/design/powercut.md, invariants 1 and 4).

Runs left open at boot end as a power loss when they began before this boot, else as a
crash; the file in progress is the one the 5-second sync flushes. The whole story (a real
power cut in a VM) is tests/appliance/test_powercut.py.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from nvr.backup.flush import InProgressSync, newest_file
from nvr.backup.paths import STAGING_DIR
from nvr.backup.reconcile import close_open_runs
from nvr.core.state import StateStore
from nvr.core.tables.recordings import EndReason, coverage

BOOT_MS = 1_800_000_000_000


def add_run(store: StateStore, camera: str, started_ms: int, segments: int) -> None:
    with store.write() as conn:
        conn.execute(
            "INSERT INTO recording_runs (camera, started_at_ms) VALUES (?, ?)",
            (camera, started_ms),
        )
        for n in range(segments):
            start = started_ms + n * 10_000
            conn.execute(
                "INSERT INTO segments (camera, path, start_ms, end_ms, bytes, created_at_ms)"
                " VALUES (?, ?, ?, ?, 1000, ?)",
                (camera, f"{camera}/{n}.mp4", start, start + 10_000, start + 10_000),
            )


def test_a_run_from_before_the_boot_ends_as_power_loss_and_names_the_gap(tmp_path: Path) -> None:
    store = StateStore.open(tmp_path / "state.db")
    add_run(store, "cam01", BOOT_MS - 120_000, 3)  # died with the box
    add_run(store, "cam02", BOOT_MS + 60_000, 2)  # nvr-backup killed after this boot

    assert close_open_runs(store, BOOT_MS) == 2

    rows = store.read().execute(
        "SELECT camera, end_reason, ended_at_ms FROM recording_runs ORDER BY camera"
    )
    assert [tuple(r) for r in rows] == [
        ("cam01", str(EndReason.POWER_LOSS), BOOT_MS - 90_000),
        ("cam02", str(EndReason.CRASHED), BOOT_MS + 80_000),
    ]
    # What `nvrctl coverage` shows for the time the box was off.
    gaps = coverage(store.read(), "cam01", BOOT_MS - 120_000, BOOT_MS + 30_000).gaps
    assert [g.reason for g in gaps] == [str(EndReason.POWER_LOSS)]


def test_the_file_in_progress_is_the_newest_staged_file(tmp_path: Path) -> None:
    """What the 5-second sync flushes (powercut.md, invariant 4), and it alters nothing."""
    camera = tmp_path / "cam01"
    (camera / "2026-11-30").mkdir(parents=True)
    (camera / "2026-11-30" / "00-00-00.mp4").write_bytes(b"y" * 2048)  # closed and placed
    (camera / STAGING_DIR).mkdir()
    for n, name in enumerate(["0a1b2c3d-000001.mp4", "0a1b2c3d-000002.mp4"]):
        (camera / STAGING_DIR / name).write_bytes(b"x" * 2048)
        os.utime(camera / STAGING_DIR / name, ns=(n * 10**9 + 10**18, n * 10**9 + 10**18))
    newest = camera / STAGING_DIR / "0a1b2c3d-000002.mp4"
    assert newest_file(camera) == newest
    assert newest_file(tmp_path / "cam02") is None  # a camera that never recorded

    sync = InProgressSync(tmp_path, lambda: ["cam01", "cam02"], threading.Event())
    sync.sync_once()
    assert newest.read_bytes() == b"x" * 2048
