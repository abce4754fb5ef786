"""Putting a state-file backup back, and making the index true of the disk again.

Procedure (docs/design/state.md, "Backups"), with every daemon stopped:
1. pick the copy (the newest that passes `PRAGMA integrity_check`, or the one named);
2. read the broken file's last report seq if it still can be read;
3. move the broken file (and its -wal/-shm) aside, never delete it: support may want it;
4. copy the backup in place (temp name, fsync, rename);
5. mark every heartbeat stopped (the daemons are, and a start must not count as a crash);
6. continue the report seq past anything head office may already have: from the broken
   file's seq when readable, else SEQ_RESTORE_JUMP past the backup's, announced by an
   alarm report listing the skipped seqs (like an outbox overflow, outbox.md invariant 5);
7. index the segments recorded since the backup, close open runs, and settle rows whose
   file is gone: older than the camera's oldest file means retention deleted it since
   (the row goes), newer means a loss (marked missing, shown in coverage).
Reports already in the backup's outbox that were delivered after the backup are sent
again with the same id: head office stores each id once (the idempotency key).
"""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import psutil

from nvr.backup.indexer import Indexer
from nvr.backup.reconcile import (
    boot_time_ms,
    camera_directories,
    close_open_runs,
    unindexed_files,
)
from nvr.core.config import Config
from nvr.core.durable import fsync_directory, sync_file
from nvr.core.state import StateStore
from nvr.core.statebackup import (
    Backup,
    StateBackupError,
    backup_dir,
    integrity_problem,
    list_backups,
)
from nvr.core.tables.events import Severity, record_event
from nvr.core.tables.outbox import KIND_ALARM, append
from nvr.core.tools import require_tool

log = logging.getLogger(__name__)

# Reports a box could have sent between its last backup and the restore (96 status
# reports a day, events, alarms; a week of backups): far fewer than this.
SEQ_RESTORE_JUMP = 100_000
RESTORED_EVENT = "state_restored"
_SIDE_FILES = ("", "-wal", "-shm")


@dataclass
class RestoreResult:
    """What a restore did, for the technician's summary."""

    backup: Backup
    broken_kept_as: Path | None
    seq_from: dict[str, int] = field(default_factory=dict)
    skipped_seqs: dict[str, list[int]] = field(default_factory=dict)
    indexed: int = 0
    runs_closed: int = 0
    rows_dropped: int = 0
    rows_missing: int = 0


def holders(state_file: Path) -> list[str]:
    """`nvr-backup (pid 812)` for each process that has the state file (or its WAL) open.

    Asking who holds the file, not which daemons run, is exact: it finds a daemon under
    any supervisor, a stray sqlite3 shell, and ignores another box's daemons in a test.
    """
    real = state_file.resolve()  # /proc/<pid>/fd names the real path
    names = {str(real.with_name(real.name + suffix)) for suffix in _SIDE_FILES}
    found = []
    for proc in psutil.process_iter(["pid", "name"]):
        try:
            files = proc.open_files()
        except (psutil.AccessDenied, psutil.NoSuchProcess):
            continue
        if any(f.path in names for f in files):
            found.append(f"{proc.info['name']} (pid {proc.info['pid']})")
    return found


def choose_backup(config: Config, named: Path | None) -> Backup:
    """The named copy, or the newest kept one that passes the integrity check."""
    if named is not None:
        problem = integrity_problem(named) if named.is_file() else "no such file"
        if problem is not None:
            raise StateBackupError(f"backup {named}: {problem}")
        return Backup(named, datetime.fromtimestamp(named.stat().st_mtime, UTC))
    directory = backup_dir(config.storage.recordings_dir)
    for backup in list_backups(directory):
        problem = integrity_problem(backup.path)
        if problem is None:
            return backup
        log.warning(
            "backup %s fails its integrity check (%s); trying an older one", backup.path, problem
        )
    raise StateBackupError(f"no usable state backup in {directory}")


def readable_seqs(state_file: Path) -> dict[str, int] | None:
    """The broken file's last seq per site, when that much of it can still be read."""
    if not state_file.exists():
        return None
    try:
        conn = sqlite3.connect(f"file:{state_file}?mode=ro", uri=True, timeout=1)
        try:
            rows = conn.execute("SELECT site_id, last_seq FROM outbox_seq").fetchall()
        finally:
            conn.close()
    except sqlite3.Error as err:
        log.info("broken state file unreadable (%s): the report seq will jump", err)
        return None
    return {str(site): int(seq) for site, seq in rows}


def move_aside(state_file: Path, stamp: str) -> Path | None:
    """Rename the broken file and its WAL files to `<name>.broken-<stamp>[-wal|-shm]`."""
    kept = state_file.with_name(f"{state_file.name}.broken-{stamp}")
    moved = False
    for suffix in _SIDE_FILES:
        source = state_file.with_name(state_file.name + suffix)
        if source.exists():
            os.replace(source, kept.with_name(kept.name + suffix))
            moved = True
    fsync_directory(state_file.parent)
    return kept if moved else None


def copy_in(backup: Path, state_file: Path) -> None:
    """The copy in place under the live name: temp file, fsync, rename, fsync directory."""
    partial = state_file.with_name(f".{state_file.name}.restoring")
    shutil.copyfile(backup, partial)
    sync_file(partial)
    os.replace(partial, state_file)
    fsync_directory(state_file.parent)


def continue_seqs(
    store: StateStore, site_id: str, broken: dict[str, int] | None, result: RestoreResult
) -> None:
    """Never reuse a seq head office may already hold; announce a jump (step 6)."""
    with store.write() as conn:
        row = conn.execute(
            "SELECT last_seq FROM outbox_seq WHERE site_id = ?", (site_id,)
        ).fetchone()
        restored = int(row[0]) if row else 0
        if broken is not None:
            target = max(restored, broken.get(site_id, 0))
        else:
            target = restored + SEQ_RESTORE_JUMP
            result.skipped_seqs[site_id] = [restored + 1, target]
        result.seq_from[site_id] = target + 1
        conn.execute(
            "INSERT INTO outbox_seq (site_id, last_seq) VALUES (?, ?)"
            " ON CONFLICT (site_id) DO UPDATE SET last_seq = excluded.last_seq",
            (site_id, target),
        )
        conn.execute("UPDATE heartbeats SET state = 'stopped'")
        body: dict[str, object] = {
            "event": RESTORED_EVENT,
            "severity": "warning",
            "message": (
                f"state file restored from the backup taken {result.backup.taken_at.isoformat()}"
            ),
            "backup_taken_at": result.backup.taken_at.isoformat(),
        }
        if site_id in result.skipped_seqs:
            body["skipped_seqs"] = [result.skipped_seqs[site_id]]
        append(conn, site_id, KIND_ALARM, body)


def reconcile(store: StateStore, config: Config, backup: Backup, result: RestoreResult) -> None:
    """Step 7: index what was recorded since the backup, settle rows without files."""
    recordings = config.storage.recordings_dir
    indexer = Indexer(config.storage.state_file, recordings, require_tool("ffprobe"))
    days = (datetime.now(UTC).date() - backup.taken_at.date()).days + 2
    for camera in camera_directories(recordings):
        for segment in unindexed_files(store, recordings, camera, days=days):
            indexer.index(store, segment)
            result.indexed += 1
    result.runs_closed = close_open_runs(store, boot_time_ms())
    _settle_rows_without_files(store, recordings, result)


def _settle_rows_without_files(store: StateStore, recordings: Path, result: RestoreResult) -> None:
    rows = (
        store.read()
        .execute("SELECT id, camera, path, start_ms FROM segments WHERE status = 'ok'")
        .fetchall()
    )
    oldest_on_disk: dict[str, int] = {}
    gone = []
    for row_id, camera, path, start_ms in rows:
        if (recordings / path).exists():
            oldest_on_disk[camera] = min(oldest_on_disk.get(camera, start_ms), start_ms)
        else:
            gone.append((row_id, camera, start_ms))
    dropped = [r[0] for r in gone if r[2] < oldest_on_disk.get(r[1], 0)]
    missing = [r[0] for r in gone if r[2] >= oldest_on_disk.get(r[1], 0)]
    with store.write() as conn:
        conn.executemany("DELETE FROM segments WHERE id = ?", [(i,) for i in dropped])
        conn.executemany(
            "UPDATE segments SET status = 'missing' WHERE id = ?", [(i,) for i in missing]
        )
    result.rows_dropped, result.rows_missing = len(dropped), len(missing)


def restore(config: Config, named: Path | None) -> RestoreResult:
    """The whole procedure; raises StateBackupError with one line when it cannot proceed."""
    state_file = config.storage.state_file
    using = holders(state_file)
    if using:
        raise StateBackupError(
            f"stop the daemons first (systemctl stop nvr.target): {', '.join(using)}"
            f" has {state_file} open"
        )
    backup = choose_backup(config, named)
    broken = readable_seqs(state_file)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    result = RestoreResult(backup, move_aside(state_file, stamp))
    copy_in(backup.path, state_file)
    with StateStore.open(state_file) as store:
        continue_seqs(store, config.site.id, broken, result)
        reconcile(store, config, backup, result)
        record_event(
            store,
            source="nvrctl",
            severity=Severity.WARNING,
            kind=RESTORED_EVENT,
            message=(
                f"state file restored from {backup.path.name}: {result.indexed} segments"
                f" indexed since, {result.rows_missing} rows missing"
            ),
        )
    return result
