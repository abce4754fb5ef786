"""nvr-uplink's alarm-clip service: one thread that runs the steps of `eventclips`.

Beside the MinIO upload service (it queues, the upload service uploads), so a MinIO
outage only delays the follow-ups. See docs/design/hse-edge.md, "Alarm clips".
"""

from __future__ import annotations

import logging
import time
from typing import Any

from nvr.core.config import Config
from nvr.core.errors import StateError
from nvr.core.state import StateStore, now_ms
from nvr.uplink.constants import (
    EVENT_CLIPS,
    EVENT_CLIPS_TICK_SECONDS,
    UPLOADS_KEEP_MS,
    UPLOADS_PRUNE_SECONDS,
)
from nvr.uplink.objects.eventclips import (
    DONE,
    FAILED,
    UPLOADING,
    WAITING,
    advance,
    discover,
    open_clips,
    open_counts,
    prune,
)
from nvr.uplink.objects.uploader import Every
from nvr.uplink.passes import PassThread

log = logging.getLogger(__name__)


class EventClipService(PassThread):
    """Cuts a clip of every alarm and follows the alarm up with its path (services.Service).

    On stop, the current step ends first (an export in progress finishes).
    """

    name = EVENT_CLIPS

    def __init__(self, config: Config) -> None:
        super().__init__("uplink-clips", config.storage.state_file)
        self.config = config
        self._counts: dict[str, int] = {}
        # Finished since this process started (finished rows are pruned after a week).
        self.finished = {DONE: 0, FAILED: 0}
        self._prune = Every(UPLOADS_PRUNE_SECONDS, time.monotonic)

    def start(self) -> None:
        """Start the thread (it resumes the clips a previous process left open)."""
        settings = self.config.uplink.event_clips
        log.info(
            "alarm clips: %d s before to %d s after each alarm, to %s",
            settings.before_seconds,
            settings.after_seconds,
            self.config.uplink.minio.recordings_bucket if self.config.uplink.minio else "-",
        )
        self._thread.start()

    def _pass(self, store: StateStore) -> float:
        try:
            self.step(store)
        except StateError as err:
            log.warning("alarm clips: state file: %s; retrying", err)
        except Exception:
            # A bug must cost a pass, not the thread (the rows wait for the next).
            log.exception("alarm clips: unexpected error; carrying on")
        return EVENT_CLIPS_TICK_SECONDS

    def step(self, store: StateStore) -> None:
        """Find new alarms, then one step of each open clip."""
        discover(store, self.config, now_ms())
        for clip in open_clips(store.read()):
            if self.stop_event.is_set():
                return
            state = advance(store, self.config, clip, now_ms())
            if state in self.finished:
                self.finished[state] += 1
        self._counts = open_counts(store.read())
        if self._prune.due():  # kept as long as the upload rows of their clips
            prune(store, now_ms() - UPLOADS_KEEP_MS)

    def status_text(self) -> str:
        """E.g. `alarm clips 2 waiting, 1 uploading`."""
        busy = {s: self._counts.get(s, 0) for s in (WAITING, UPLOADING)}
        text = ", ".join(f"{n} {s}" for s, n in busy.items() if n)
        return f"alarm clips {text or 'idle'}"

    def detail(self) -> dict[str, Any]:
        """Rows per state."""
        return {**self._counts, **self.finished}
