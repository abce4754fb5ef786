"""Syncing the segments ffmpeg is writing, so that a power cut keeps most of each one.

ffmpeg never fsyncs, and ext4 writes delayed-allocation data back only after about 30 s:
without this, a power cut loses the whole segment in progress (in the VM power-cut tests
every partial segment came back as an empty file). Every IN_PROGRESS_SYNC_SECONDS a
thread fsyncs the newest file of each camera, and its directory when the file is new, so
a cut loses at most that interval plus ffmpeg's own buffer. Syncing changes no byte of
any file. See docs/design/powercut.md, invariant 4.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path

from nvr.backup.paths import STAGING_DIR
from nvr.core.durable import fsync_data, fsync_directory
from nvr.core.threadname import name_os_thread

log = logging.getLogger(__name__)

IN_PROGRESS_SYNC_SECONDS = 5.0


def newest_file(camera_dir: Path) -> Path | None:
    """The most recently modified file of the camera's staging directory.

    ffmpeg writes only there (backup/paths.py): the segment in progress is the newest file;
    the closed ones were already synced by the indexer before they got their dated names.
    """
    try:
        files = [e for e in os.scandir(camera_dir / STAGING_DIR) if e.is_file()]
    except FileNotFoundError:
        return None
    if not files:
        return None
    return Path(max(files, key=lambda e: e.stat().st_mtime_ns).path)


class InProgressSync:
    """A named loop, woken by the stop event, that syncs each camera's file in progress."""

    def __init__(
        self, recordings_dir: Path, cameras: Callable[[], list[str]], stop: threading.Event
    ) -> None:
        self._recordings_dir = recordings_dir
        self._cameras = cameras
        self._stop = stop
        self._synced: dict[str, Path] = {}
        self._thread = threading.Thread(target=self._run, name="segment-sync", daemon=True)

    def start(self) -> None:
        """Start the loop; it ends when the daemon's stop event is set."""
        self._thread.start()

    def join(self, timeout: float) -> None:
        """Wait for the loop to end after the stop event was set."""
        self._thread.join(timeout)

    def _run(self) -> None:
        name_os_thread()
        while not self._stop.wait(IN_PROGRESS_SYNC_SECONDS):
            try:
                self.sync_once()
            except OSError:
                log.exception("syncing segments in progress failed; retrying next pass")

    def sync_once(self) -> None:
        """One pass over the cameras (public so that tests can run a pass directly)."""
        for camera in self._cameras():
            path = newest_file(self._recordings_dir / camera)
            if path is None:
                continue
            try:
                fsync_data(path)
            except FileNotFoundError:
                continue  # deleted between the listing and the sync
            if self._synced.get(camera) != path:
                fsync_directory(path.parent)  # the new file's name, once
                self._synced[camera] = path
