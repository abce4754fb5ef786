"""The daily state-file backup, run by nvr-hddmon because it owns the recordings disk.

The copy runs in its own thread (a state file of a million segments takes seconds to
copy and check) so the tick, and with it the watchdog ping, is never held up. The tick
collects the outcome and turns a failure into a warning event.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from nvr.core.config import Config
from nvr.core.statebackup import Backup, StateBackupError, backup_dir, list_backups, take_backup

log = logging.getLogger(__name__)

FAILED_KIND = "state_backup_failed"
# After a failure, try again this much later rather than every tick.
RETRY_AFTER = timedelta(hours=1)

Outcome = Backup | StateBackupError


class StateBackupJob:
    """Decides when a backup is due, runs it in a thread, hands back the outcome."""

    def __init__(self, wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._now = wall_clock
        self._thread: threading.Thread | None = None
        self._outcome: Outcome | None = None
        self._not_before: datetime | None = None
        self.last: Backup | None = None
        self.last_error: str | None = None

    def step(self, config: Config) -> Outcome | None:
        """Start a due backup, or return the outcome of the one that just finished."""
        if self._thread is not None:
            if self._thread.is_alive():
                return None
            self._thread = None
            return self._finish()
        if self._due(config):
            self._start(config)
        return None

    def _due(self, config: Config) -> bool:
        hours = config.disk.state_backup_hours
        if hours <= 0:
            return False
        now = self._now()
        if self._not_before is not None and now < self._not_before:
            return False
        # Read from the disk, so a restart neither repeats a fresh backup nor skips one.
        kept = list_backups(backup_dir(config.storage.recordings_dir))
        self.last = kept[0] if kept else self.last
        return not kept or now - kept[0].taken_at >= timedelta(hours=hours)

    def _start(self, config: Config) -> None:
        state_file = config.storage.state_file
        target = backup_dir(config.storage.recordings_dir)
        keep = config.disk.state_backups_kept
        self._thread = threading.Thread(
            target=self._run, args=(state_file, target, keep), name="state-backup", daemon=True
        )
        self._thread.start()

    def _run(self, state_file: Path, target: Path, keep: int) -> None:
        try:
            self._outcome = take_backup(state_file, target, keep, self._now())
        except StateBackupError as err:  # every OSError and sqlite3.Error arrives as one
            self._outcome = err

    def _finish(self) -> Outcome | None:
        outcome, self._outcome = self._outcome, None
        if isinstance(outcome, Backup):
            self.last, self.last_error, self._not_before = outcome, None, None
            log.info("state backup written: %s", outcome.path)
        elif outcome is not None:
            self.last_error = str(outcome)
            self._not_before = self._now() + RETRY_AFTER
        return outcome

    def detail(self) -> dict[str, Any]:
        """For the heartbeat: when the newest copy was taken, and the last failure."""
        return {
            "last": self.last.taken_at.isoformat() if self.last else None,
            "path": str(self.last.path) if self.last else None,
            "error": self.last_error,
        }
