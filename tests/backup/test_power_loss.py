"""Power cuts, the rules on a real disk (docs/design/powercut.md, invariants 1 and 4).

Runs left open at boot end as a power loss when they began before this boot, else as a
crash; the file in progress is the one the 5-second sync flushes. The whole story (a real
power cut in a VM) is tests/appliance/test_powercut.py.
"""

from __future__ import annotations

import os
import subprocess
import threading
from pathlib import Path

from nvr.backup.flush import InProgressSync, newest_file
from nvr.backup.indexer import Indexer
from nvr.backup.paths import STAGING_DIR
from nvr.backup.reconcile import close_open_runs, unindexed_files
from nvr.core.state import StateStore
from nvr.core.tables.recordings import EndReason, coverage
from nvr.core.tools import require_tool

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


def test_a_partial_file_whose_time_ran_ahead_continues_its_run(tmp_path: Path) -> None:
    """After a cut, the staged file's modification time can be seconds later than its video.

    The file in progress was synced up to some point; ext4 then committed a newer
    modification time without the data behind it. Indexed as "end minus duration", the
    partial would open a hole before itself ("not recording" just before the cut) and the
    power-loss gap would start after video that is not there (powercut.md, invariant 2).
    """
    store = StateStore.open(tmp_path / "state.db")
    recordings = tmp_path / "recordings"
    staging = recordings / "cam01" / STAGING_DIR
    staging.mkdir(parents=True)
    run_start = BOOT_MS - 60_000
    add_run(store, "cam01", run_start, 2)  # two 10 s segments, closed and indexed
    closed_end = run_start + 20_000
    partial = staging / "0a1b2c3d-000002.mp4"  # the run's third file
    subprocess.run(
        [require_tool("ffmpeg"), "-v", "error", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=25",
         "-t", "3", "-c:v", "libx264", "-g", "25", "-movflags",
         "+frag_keyframe+empty_moov+default_base_moof", str(partial)],
        check=True,
    )  # fmt: skip
    mtime_ns = (closed_end + 3_000 + 4_000) * 1_000_000  # 4 s ahead of its 3 s of video
    os.utime(partial, ns=(mtime_ns, mtime_ns))

    indexer = Indexer(tmp_path / "state.db", recordings, require_tool("ffprobe"))
    for segment in unindexed_files(store, recordings, "cam01"):
        indexer.index(store, segment)
    close_open_runs(store, BOOT_MS)

    path, start_ms, end_ms = (
        store.read()
        .execute(
            "SELECT path, start_ms, end_ms FROM segments WHERE camera = 'cam01' ORDER BY id DESC"
        )
        .fetchone()
    )
    assert not path.startswith("cam01/" + STAGING_DIR), "the partial got its dated name"
    assert start_ms == closed_end
    assert abs(end_ms - (closed_end + 3_000)) < 100, end_ms - closed_end
    gaps = coverage(store.read(), "cam01", run_start, BOOT_MS + 30_000).gaps
    assert [g.reason for g in gaps] == [str(EndReason.POWER_LOSS)], gaps
    assert gaps[0].start_ms == end_ms
