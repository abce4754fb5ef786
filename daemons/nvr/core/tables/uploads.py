"""The upload queue: files promised to MinIO, as rows of the state file.

Any daemon may enqueue (nvr-validator for event snapshots, nvr-uplink for clips and offsite
copies); only nvr-uplink uploads and changes a row afterwards. The object key is fixed when
the row is written, so a report can name `minio_image_path` / `minio_file_path` before the
upload happened: the path becomes valid when the upload lands, and the upload survives
restarts and WAN outages. See docs/design/objects.md.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import IntEnum, StrEnum
from pathlib import Path
from typing import Any

from nvr.core.config import Config
from nvr.core.state import now_ms
from nvr.core.timeutil import format_ms

# Buckets as the HSE platform names them (the defaults of uplink.minio.*_bucket).
IMAGES_BUCKET = "alarm-images"
RECORDINGS_BUCKET = "recordings"
# `<state dir>/spool/<what>/<camera>/<file>`: copies made for upload (owned rows).
SPOOL_DIR = "spool"
SNAPSHOT_SPOOL = "snapshots"  # event snapshots: spool/snapshots/<camera>/<time>.jpg


class UploadKind(IntEnum):
    """What a file is; the value is its priority (lower goes first)."""

    SNAPSHOT = 10  # event snapshots and `snapshot` commands: small, wanted now
    CLIP = 20  # `request_clip`: someone is waiting for it
    OFFSITE = 30  # background copy of finished segments

    @property
    def label(self) -> str:
        """The name stored in uploads.kind."""
        return self.name.lower()


class UploadState(StrEnum):
    """uploads.state: waiting, in MinIO, or never going to be (the reason in last_error)."""

    PENDING = "pending"
    DONE = "done"
    LOST = "lost"


@dataclass(frozen=True)
class ObjectRef:
    """Where a file goes: bucket and key; `path` is what payloads carry (`bucket/key`)."""

    bucket: str
    key: str

    @property
    def path(self) -> str:
        """`bucket/key`, the form of `minio_image_path` and `minio_file_path`."""
        return f"{self.bucket}/{self.key}"


@dataclass(frozen=True)
class BucketTarget:
    """Where one daemon's files go: the site (first part of the key) and the bucket."""

    site_id: str
    bucket: str

    def ref(self, camera: str, at_ms: int, name: str) -> ObjectRef:
        """The object for a file of `camera` taken at `at_ms`."""
        return ObjectRef(self.bucket, object_key(self.site_id, camera, at_ms, name))


def images_target(config: Config) -> BucketTarget | None:
    """The alarm images bucket, or None when uplink.minio is not configured."""
    minio = config.uplink.minio
    return None if minio is None else BucketTarget(config.site.id, minio.images_bucket)


def object_key(site_id: str, camera: str, at_ms: int, name: str) -> str:
    """`<YYYY>/<MM>/<DD>/<site>/<camera>/<name>`: by date, site and camera (UTC date).

    The date as the HSE backend lays out its buckets (`alarm-images/YYYY/MM/DD/...`,
    docs/design/hse.md), so its media sync and ours list the same prefixes.
    """
    day = datetime.fromtimestamp(at_ms / 1000, UTC).strftime("%Y/%m/%d")
    return f"{day}/{site_id}/{camera}/{name}"


def site_key_pattern(site_id: str) -> str:
    """Every key of `object_key` for one site, as an S3 policy pattern: `????/??/??/<site>/*`.

    `?` is one character, so the date is pinned to its shape and the site must be the 4th
    part: a key `<date>/<other site>/<site>/...` (a camera named like this site) does not
    match, which a plain `*/<site>/*` would (docs/design/objects.md, invariant 7).
    """
    return f"????/??/??/{site_id}/*"


def spool_path(state_file: Path, what: str, camera: str, name: str) -> Path:
    """`<state dir>/spool/<what>/<camera>/<name>`, e.g. what = `snapshots`."""
    return state_file.parent / SPOOL_DIR / what / camera / name


def spool_name(at_ms: int, suffix: str) -> str:
    """`20261121T080000123Z.jpg`: sortable, unique per millisecond, the same in the key."""
    stamp = datetime.fromtimestamp(at_ms / 1000, UTC).strftime("%Y%m%dT%H%M%S")
    return f"{stamp}{at_ms % 1000:03d}Z{suffix}"


def enqueue(
    conn: sqlite3.Connection,
    ref: ObjectRef,
    path: Path,
    kind: UploadKind,
    *,
    camera: str | None = None,
    sha256: str | None = None,
    size: int | None = None,
    owned: bool = False,
    segment_id: int | None = None,
    command_id: str | None = None,
    start_ms: int | None = None,
    end_ms: int | None = None,
) -> bool:
    """Queue `path` for `ref` inside the caller's write transaction.

    Idempotent on (bucket, key): queuing the same object twice keeps the first row and
    returns False. `owned` files (spool copies) are deleted by nvr-uplink once uploaded.
    `size` defaults to the file's size now (segments pass their indexed size, which stays
    known if retention deletes the file first). `start_ms`/`end_ms` are the time the file
    shows (a segment's span, a snapshot's instant): reports say from them how far behind
    the copy is and which hours were lost.
    """
    if size is None and path.exists():
        size = path.stat().st_size
    cursor = conn.execute(
        "INSERT INTO uploads (bucket, object_key, path, sha256, bytes, kind, priority, camera,"
        " segment_id, start_ms, end_ms, owned, command_id, created_at_ms)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (bucket, object_key) DO NOTHING",
        (
            ref.bucket,
            ref.key,
            str(path),
            sha256,
            size,
            kind.label,
            int(kind),
            camera,
            segment_id,
            start_ms,
            end_ms,
            int(owned),
            command_id,
            now_ms(),
        ),
    )
    return cursor.rowcount == 1


def pending_by_kind(conn: sqlite3.Connection) -> dict[str, dict[str, Any]]:
    """Pending files, bytes and the oldest queue time per kind (reports, nvr-health)."""
    rows = conn.execute(
        "SELECT kind, count(*), coalesce(sum(bytes), 0), min(created_at_ms) FROM uploads"
        " WHERE state = ? GROUP BY kind ORDER BY kind",
        (UploadState.PENDING.value,),
    ).fetchall()
    return {
        str(kind): {"files": int(files), "bytes": int(size), "oldest_queued": format_ms(oldest)}
        for kind, files, size, oldest in rows
    }
