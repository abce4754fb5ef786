"""nvr-uplink's MinIO service: one thread empties the upload queue; offsite copy rides on it.

Each step uploads the most urgent pending row (snapshots, then clips, then offsite copies):
check the local file, the SHA-256, ask MinIO whether the object is already there with that
hash (done without uploading), else upload it through the bandwidth cap and mark it done.
Any MinIO failure leaves the row pending and backs off with jitter. Slow jobs (queue new
segments, find lost ones, prune, count) ride on the same loop. See docs/design/objects.md.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any

from nvr.core.backoff import Backoff
from nvr.core.config import Config
from nvr.core.errors import StateError
from nvr.core.state import StateStore, now_ms
from nvr.core.tables.offsite import Tally, offsite_cameras, pending
from nvr.core.tables.uploads import BucketTarget, UploadKind, UploadState
from nvr.uplink.constants import (
    MINIO,
    MINIO_LABEL,
    OFFSITE_SCAN_SECONDS,
    OFFSITE_SWEEP_SECONDS,
    RETRY_FACTOR,
    RETRY_JITTER,
    UPLOAD_FIGURES_SECONDS,
    UPLOAD_IDLE_SECONDS,
    UPLOADS_KEEP_MS,
    UPLOADS_PRUNE_SECONDS,
)
from nvr.uplink.errors import UplinkError
from nvr.uplink.objects.offsite_copy import LOST_REASON, OffsiteCopy, report_lost, sweep_deleted
from nvr.uplink.objects.queue_state import (
    UploadRow,
    finish,
    next_pending,
    note_failure,
    pending_totals,
    prune,
)
from nvr.uplink.objects.store import ObjectRefused, ObjectStore, ObjectStoreError
from nvr.uplink.objects.throttle import MeteredReader, TokenBucket, UploadInterrupted
from nvr.uplink.passes import PassThread

log = logging.getLogger(__name__)

CHANGED_REASON = "content changed since it was queued (sha256 differs); removed from MinIO"


class Every:
    """A slow job on the loop's fast tick: `due()` is true once per `seconds`."""

    def __init__(self, seconds: float, clock: Callable[[], float]) -> None:
        self._seconds = seconds
        self._clock = clock
        self._last = float("-inf")

    def due(self) -> bool:
        """True (and restart the period) when the period has passed."""
        now = self._clock()
        if now - self._last < self._seconds:
            return False
        self._last = now
        return True


@dataclass(frozen=True)
class Figures:
    """What STATUS and the heartbeat show; replaced whole by the thread, read by the daemon."""

    pending: int = 0
    pending_bytes: int = 0
    uploaded: int = 0
    uploaded_bytes: int = 0
    already_there: int = 0  # rows found in MinIO with the same hash: not uploaded again
    lost: int = 0
    offsite_pending: int = 0
    offsite_pending_bytes: int = 0
    offsite_behind_seconds: float = 0.0


class UploadService(PassThread):
    """Uploads the `uploads` queue to MinIO and queues offsite copies (services.Service).

    On stop, an upload in progress is abandoned and stays pending.
    """

    name = MINIO

    def __init__(self, config: Config, clock: Callable[[], float] = time.monotonic) -> None:
        minio = config.uplink.minio
        if minio is None:
            raise UplinkError("uplink.minio is not configured")
        super().__init__("uplink-minio", config.storage.state_file)
        self._objects = ObjectStore(minio)
        self._buckets = tuple(dict.fromkeys((minio.images_bucket, minio.recordings_bucket)))
        self._offsite = OffsiteCopy(
            BucketTarget(config.site.id, minio.recordings_bucket),
            config.storage.recordings_dir,
            offsite_cameras(config),
        )
        self._limiter = TokenBucket.from_kbps(minio.bandwidth_limit_kbps)
        uplink = config.uplink
        self._backoff = Backoff(
            uplink.retry_initial_seconds, RETRY_FACTOR, uplink.retry_max_seconds, RETRY_JITTER
        )
        self._clock = clock
        self.figures = Figures()
        self._checked = False  # buckets checked since the start or the last failure
        self._ever_ok = False
        self.down_reason: str | None = None
        self._next_attempt = 0.0
        self._lost_offsite: list[UploadRow] = []  # found at upload time, told at the sweep
        self._scan = Every(OFFSITE_SCAN_SECONDS, clock)
        self._sweep = Every(OFFSITE_SWEEP_SECONDS, clock)
        self._prune = Every(UPLOADS_PRUNE_SECONDS, clock)
        self._count = Every(UPLOAD_FIGURES_SECONDS, clock)

    # -- thread ----------------------------------------------------------------------------
    def start(self) -> None:
        """Start the upload thread."""
        log.info(
            "MinIO %s: buckets %s; offsite copy of %s",
            self._objects.endpoint,
            ", ".join(self._buckets),
            ", ".join(self._offsite.cameras) or "no camera",
        )
        self._thread.start()

    def _pass(self, store: StateStore) -> float | None:
        try:
            return self.step(store)
        except UploadInterrupted:
            return None
        except StateError as err:
            log.warning("MinIO uploads: state file: %s", err)
        except Exception:
            log.exception("MinIO uploads: unexpected error; carrying on")
        return UPLOAD_IDLE_SECONDS

    # -- one step --------------------------------------------------------------------------
    def step(self, store: StateStore) -> float:
        """Run the slow jobs that are due, then upload one row; return the wait."""
        self._housekeeping(store)
        wait = self._next_attempt - self._clock()
        if wait > 0:
            return min(wait, UPLOAD_IDLE_SECONDS)
        try:
            wait = self._work(store)
        except ObjectStoreError as err:
            return self._failed(str(err))
        self._recovered()
        return wait

    def _work(self, store: StateStore) -> float:
        if not self._checked:
            self._check_buckets()
        row = next_pending(store.read())
        if row is None:
            return UPLOAD_IDLE_SECONDS
        self._upload(store, row)
        return 0.0

    def _check_buckets(self) -> None:
        """At start and after a failure: every bucket exists (created when missing)."""
        for bucket in self._buckets:
            if self._objects.ensure_bucket(bucket):
                log.info("MinIO %s: created bucket %s", self._objects.endpoint, bucket)
        self._checked = True

    def _upload(self, store: StateStore, row: UploadRow) -> None:
        try:
            source = row.path.open("rb")
        except OSError as err:
            gone = isinstance(err, FileNotFoundError)
            self._lose(store, row, _gone_reason(row) if gone else f"cannot read: {err.strerror}")
            return
        with source:
            size = os.fstat(source.fileno()).st_size
            sha256 = row.sha256 or _hash(source)
            try:
                if self._objects.stored_sha256(row.ref) == sha256:
                    self._done(store, row, size, uploaded=False)
                    return
                reader = MeteredReader(source, self._limiter, self.stop_event)
                self._objects.put(row.ref, reader, size, sha256)
                if reader.hexdigest() != sha256:
                    self._objects.remove(row.ref)
                    self._lose(store, row, CHANGED_REASON)
                    return
            except ObjectRefused as err:
                self._lose(store, row, str(err))
                return
            except ObjectStoreError as err:
                note_failure(store, row.id, str(err))
                raise
        self._done(store, row, size, uploaded=True)

    def _done(self, store: StateStore, row: UploadRow, size: int, uploaded: bool) -> None:
        finish(store, row, UploadState.DONE, size=size)
        # Only after the commit: a crash in between leaves a spool file, never a row
        # without its file (docs/design/objects.md, invariant 2).
        if row.owned:
            row.path.unlink(missing_ok=True)
        level = logging.DEBUG if row.kind == UploadKind.OFFSITE.label else logging.INFO
        log.log(
            level,
            "MinIO: %s %s (%d bytes, %s)",
            "uploaded" if uploaded else "already stored",
            row.ref.path,
            size,
            row.kind,
        )
        if uploaded:
            self.figures = replace(
                self.figures,
                uploaded=self.figures.uploaded + 1,
                uploaded_bytes=self.figures.uploaded_bytes + size,
            )
        else:
            self.figures = replace(self.figures, already_there=self.figures.already_there + 1)

    def _lose(self, store: StateStore, row: UploadRow, reason: str) -> None:
        finish(store, row, UploadState.LOST, reason)
        self.figures = replace(self.figures, lost=self.figures.lost + 1)
        if row.kind == UploadKind.OFFSITE.label and reason == LOST_REASON:
            self._lost_offsite.append(row)  # one event per sweep, not one per segment
        else:
            log.warning("MinIO: %s %s not uploaded: %s", row.kind, row.path, reason)

    # -- health ----------------------------------------------------------------------------
    def _failed(self, reason: str) -> float:
        self._checked = False
        delay = self._backoff.failed()
        self._next_attempt = self._clock() + delay
        if self.down_reason is None:
            log.warning(
                "MinIO %s down: %s; uploads wait, retrying with back-off",
                self._objects.endpoint,
                reason,
            )
        self.down_reason = reason
        return min(delay, UPLOAD_IDLE_SECONDS)

    def _recovered(self) -> None:
        if self.down_reason is not None:
            log.info("MinIO %s reachable again; uploading what waited", self._objects.endpoint)
        self.down_reason = None
        self._ever_ok = True
        self._backoff.succeeded()

    # -- slow jobs -------------------------------------------------------------------------
    def _housekeeping(self, store: StateStore) -> None:
        if self._offsite.cameras and self._scan.due():
            self._offsite.queue_new_segments(store)
        if self._sweep.due():
            lost, self._lost_offsite = sweep_deleted(store) + self._lost_offsite, []
            report_lost(store, lost)
        if self._prune.due():
            prune(store, now_ms() - UPLOADS_KEEP_MS)
        if self._count.due():
            self._refresh_figures(store)

    def _refresh_figures(self, store: StateStore) -> None:
        conn = store.read()
        count, size = pending_totals(conn)
        backlog = sum((pending(conn, camera) for camera in self._offsite.cameras), Tally())
        behind = 0.0 if backlog.first_ms is None else max(0, now_ms() - backlog.first_ms) / 1000
        self.figures = replace(
            self.figures,
            pending=count,
            pending_bytes=size,
            offsite_pending=backlog.segments,
            offsite_pending_bytes=backlog.bytes,
            offsite_behind_seconds=round(behind, 1),
        )

    # -- status ----------------------------------------------------------------------------
    def retry_in(self) -> float:
        """Seconds until the next attempt (0 when not backing off)."""
        return max(0.0, self._next_attempt - self._clock())

    def status_text(self) -> str:
        """`MinIO ok (0 pending)` or `MinIO down: <reason>, 12 pending, retry in 8s`."""
        pending_count = self.figures.pending
        if self.down_reason is not None:
            return (
                f"{MINIO_LABEL} down: {self.down_reason}, {pending_count} pending,"
                f" retry in {self.retry_in():.0f}s"
            )
        state = "ok" if self._ever_ok else "connecting"
        return f"{MINIO_LABEL} {state} ({pending_count} pending)"

    def detail(self) -> dict[str, Any]:
        """Queue, counters, last error and the offsite backlog (never a credential)."""
        state = "down" if self.down_reason is not None else "ok" if self._ever_ok else "starting"
        return {
            "state": state,
            "endpoint": self._objects.endpoint,
            "last_error": self.down_reason or "",
            "retry_in_s": round(self.retry_in(), 1),
            **asdict(self.figures),
        }


def _gone_reason(row: UploadRow) -> str:
    if row.kind == UploadKind.OFFSITE.label:
        return LOST_REASON
    return f"file {row.path} is gone"


def _hash(source: Any) -> str:
    """SHA-256 of an open file, rewound afterwards for the upload."""
    digest = hashlib.file_digest(source, "sha256").hexdigest()
    source.seek(0)
    return digest
