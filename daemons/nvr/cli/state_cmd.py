"""`nvrctl state`: the daily state-file backups, and putting one back.

nvrctl state backups            the kept copies, newest first
nvrctl state backup             take one now (before maintenance, say)
nvrctl state restore            with the daemons stopped: the newest good copy
nvrctl state restore --backup /srv/nvr/recordings/.nvr-state-backups/state-...db
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from nvr.cli.options import add_command
from nvr.cli.restore import restore
from nvr.core.config import load_config, resolve_path
from nvr.core.statebackup import backup_dir, integrity_problem, list_backups, take_backup


def add_parser(subparsers: Any) -> None:
    """Register `state`."""
    state = subparsers.add_parser("state", help="state-file backups and restore")
    actions = state.add_subparsers(dest="action", required=True)
    add_command(actions, "backups", "the kept copies, newest first", run_list)
    add_command(actions, "backup", "take a copy now", run_backup)
    back = add_command(
        actions, "restore", "put a copy back and reconcile the index (daemons stopped)", run_restore
    )
    back.add_argument("--backup", type=Path, help="this copy (default: the newest good one)")


def run_list(args: argparse.Namespace) -> int:
    """One line per copy: time, size, integrity."""
    config = load_config(resolve_path(args.config))
    directory = backup_dir(config.storage.recordings_dir)
    backups = list_backups(directory)
    if not backups:
        print(f"no state backup in {directory}")
        return 1
    for backup in backups:
        problem = integrity_problem(backup.path)
        size = backup.path.stat().st_size >> 20
        print(
            f"{backup.taken_at:%Y-%m-%d %H:%M:%S}Z  {size:>6} MiB  {problem or 'ok'}  {backup.path}"
        )
    return 0


def run_backup(args: argparse.Namespace) -> int:
    """What nvr-hddmon does daily, now."""
    config = load_config(resolve_path(args.config))
    backup = take_backup(
        config.storage.state_file,
        backup_dir(config.storage.recordings_dir),
        config.disk.state_backups_kept,
        datetime.now(UTC),
    )
    print(f"state backup written and checked: {backup.path}")
    return 0


def run_restore(args: argparse.Namespace) -> int:
    """Restore and print what was done."""
    config = load_config(resolve_path(args.config))
    result = restore(config, args.backup)
    print(f"restored {config.storage.state_file} from {result.backup.path}")
    if result.broken_kept_as is not None:
        print(f"the broken state file is kept as {result.broken_kept_as}")
    print(
        f"index: {result.indexed} segments recorded since the backup indexed,"
        f" {result.runs_closed} open runs closed, {result.rows_dropped} rows of segments"
        f" deleted since dropped, {result.rows_missing} rows whose file is missing"
    )
    for site, seq in result.seq_from.items():
        skipped = result.skipped_seqs.get(site)
        note = f" (seqs {skipped[0]}-{skipped[1]} skipped and announced)" if skipped else ""
        print(f"reports of site {site} continue at seq {seq}{note}")
    print("start the daemons again: systemctl start nvr.target")
    return 0
