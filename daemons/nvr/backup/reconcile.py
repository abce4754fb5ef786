"""Making the index true of the disk again after a crash.

See docs/design/recording.md, invariant 3; procedure "Start-up reconcile".

At start-up: stray ffmpeg processes from a killed predecessor are stopped, runs left open
are closed with reason "nvr-backup stopped unexpectedly" (or "power loss (unclean
shutdown)" when they started before this boot), recent files without a row are
indexed (or quarantined when unreadable), and recent rows whose file is gone are marked
missing. After an ffmpeg dies, the same file scan, limited to that camera's staging
directory and that run's files, finds the partial segment it was writing.
"""

from __future__ import annotations

import logging
from pathlib import Path

import psutil

from nvr.backup.paths import SEGMENT_NAME, STAGED_NAME, STAGING_DIR, staged_relative
from nvr.backup.recorder import FinishedSegment
from nvr.core.state import StateStore
from nvr.core.tables.recordings import EndReason

log = logging.getLogger(__name__)

STALE_STOP_SECONDS = 5.0
# What a crash can leave behind is in today's or yesterday's directory. Older drift is
# found by nvr-hddmon's periodic reconcile, so start-up (which delays recording) stays
# short even with a million segments in the index.
RECENT_DAYS = 2


def stop_stale_ffmpeg(recordings_dir: Path) -> int:
    """Terminate ffmpeg processes still writing into our recordings directory.

    PR_SET_PDEATHSIG normally takes them down with us; this covers the cases where it
    cannot (a predecessor started by an older version, a forking thread that had exited).
    """
    prefix = f"{recordings_dir}/"
    stale = []
    for proc in psutil.process_iter(["name", "cmdline"]):
        cmdline = proc.info.get("cmdline") or []
        name = proc.info.get("name") or ""
        # ffmpeg or ffmpeg-rec (command.recording_ffmpeg)
        if name.startswith("ffmpeg") and any(a.startswith(prefix) for a in cmdline):
            stale.append(proc)
    for proc in stale:
        log.warning("stopping stray ffmpeg pid %d still writing to %s", proc.pid, recordings_dir)
        proc.terminate()
    _, alive = psutil.wait_procs(stale, timeout=STALE_STOP_SECONDS)
    for proc in alive:
        proc.kill()
    return len(stale)


def close_open_runs(store: StateStore, boot_ms: int) -> int:
    """Runs without an end belong to a predecessor that died: end them at their last segment.

    A run that started before this boot died with the box (power cut, reset, kernel
    panic): a clean shutdown ends every run with "shutdown" first. See
    docs/design/powercut.md, invariant 1.
    """
    with store.write() as conn:
        cursor = conn.execute(
            "UPDATE recording_runs SET end_reason = CASE WHEN started_at_ms < ? THEN ? ELSE ? END,"
            " ended_at_ms = max(started_at_ms,"
            " coalesce((SELECT max(end_ms) FROM segments s WHERE s.camera = recording_runs.camera"
            " AND s.start_ms >= recording_runs.started_at_ms - 2000), started_at_ms))"
            " WHERE ended_at_ms IS NULL",
            (boot_ms, str(EndReason.POWER_LOSS), str(EndReason.CRASHED)),
        )
    return cursor.rowcount


def boot_time_ms() -> int:
    """When this machine booted, UTC milliseconds (from the kernel's uptime)."""
    return int(psutil.boot_time() * 1000)


def unindexed_files(
    store: StateStore,
    recordings_dir: Path,
    camera: str,
    run: str | None = None,
    reported: frozenset[str] | set[str] = frozenset(),
    days: int = RECENT_DAYS,
) -> list[FinishedSegment]:
    """Segment files of a camera that have no row, oldest first.

    With `run`: the staged files of that ffmpeg run not yet reported (the partial segment
    of a dead ffmpeg). Without (start-up, no ffmpeg running): every staged file, then the
    files without a row in the `days` newest day directories (RECENT_DAYS; a state restore
    asks for every day since its backup). A file's end is its modification time (its last
    write); the indexer measures its duration.
    """
    staged = _staged_files(recordings_dir, camera, run, reported)
    if run is not None:
        return staged
    return _unindexed_dated(store, recordings_dir, camera, days) + staged


def _staged_files(
    recordings_dir: Path, camera: str, run: str | None, reported: frozenset[str] | set[str]
) -> list[FinishedSegment]:
    staging = recordings_dir / camera / STAGING_DIR
    if not staging.is_dir():
        return []
    found = []
    for file in staging.iterdir():
        match = STAGED_NAME.match(file.name)
        if match is None or file.name in reported or run not in (None, match.group(1)):
            continue
        stat = file.stat()
        if stat.st_nlink > 1:
            # Linked to its dated name, then a crash before the staged name was removed
            # (paths.place_segment): the dated name is the segment.
            file.unlink()
            continue
        rel = staged_relative(camera, file.name)
        found.append(FinishedSegment(camera, rel, int(stat.st_mtime * 1000), None))
    # Same modification time (a coarse clock): the run's counter keeps them in order.
    return sorted(found, key=lambda segment: (segment.end_ms, segment.path))


def _unindexed_dated(
    store: StateStore, recordings_dir: Path, camera: str, days: int
) -> list[FinishedSegment]:
    camera_dir = recordings_dir / camera
    if not camera_dir.is_dir():
        return []
    day_dirs = sorted(p for p in camera_dir.iterdir() if p.is_dir() and p.name != STAGING_DIR)
    day_dirs = day_dirs[-days:]
    known = _indexed_paths(store, camera, [d.name for d in day_dirs])
    found = []
    for day in day_dirs:
        for file in sorted(day.iterdir()):
            rel = f"{camera}/{day.name}/{file.name}"
            if rel not in known and SEGMENT_NAME.match(file.name):
                end_ms = int(file.stat().st_mtime * 1000)
                found.append(FinishedSegment(camera, rel, end_ms, None))
    return found


def _indexed_paths(store: StateStore, camera: str, days: list[str]) -> set[str]:
    paths: set[str] = set()
    conn = store.read()
    for day in days:
        rows = conn.execute(
            "SELECT path FROM segments WHERE path >= ? AND path < ?",
            (f"{camera}/{day}/", f"{camera}/{day}0"),
        )
        paths.update(row[0] for row in rows)
    return paths


def camera_directories(recordings_dir: Path) -> list[str]:
    """Names of the camera directories on disk (configured or not)."""
    if not recordings_dir.is_dir():
        return []
    return sorted(
        p.name for p in recordings_dir.iterdir() if p.is_dir() and not p.name.startswith(".")
    )


def mark_missing(store: StateStore, recordings_dir: Path, since_ms: int) -> int:
    """Recent rows whose file is gone become 'missing' (kept: coverage must show the loss)."""
    rows = store.read().execute(
        "SELECT id, path FROM segments WHERE start_ms >= ? AND status = 'ok'", (since_ms,)
    )
    gone = [row_id for row_id, path in rows if not (recordings_dir / path).exists()]
    if gone:
        with store.write() as write:
            write.executemany(
                "UPDATE segments SET status = 'missing' WHERE id = ?", [(i,) for i in gone]
            )
        log.warning("%d indexed segments have no file any more; marked missing", len(gone))
    return len(gone)
