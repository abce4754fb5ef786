"""The upload queue: files promised to MinIO, as rows of the state file.

Any daemon may enqueue (nvr-validator for event snapshots, nvr-uplink for clips and offsite
copies); only nvr-uplink uploads. The object key is fixed when the row is written, so a
report can name `minio_image_path` / `minio_file_path` before the upload happened: the path
becomes valid when the upload lands, and the upload survives restarts and WAN outages.
See docs/design/objects.md.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import IntEnum
from pathlib import Path

from nvr.core.state import now_ms

# Buckets as the HSE platform names them (the defaults of uplink.minio.*_bucket).
IMAGES_BUCKET = "alarm-images"
RECORDINGS_BUCKET = "recordings"


class UploadKind(IntEnum):
    """What a file is; the value is its priority (lower goes first)."""

    SNAPSHOT = 10  # event snapshots and `snapshot` commands: small, wanted now
    CLIP = 20  # `request_clip`: someone is waiting for it
    OFFSITE = 30  # background copy of finished segments

    @property
    def label(self) -> str:
        """The name stored in uploads.kind."""
        return self.name.lower()


@dataclass(frozen=True)
class ObjectRef:
    """Where a file goes: bucket and key; `path` is what payloads carry (`bucket/key`)."""

    bucket: str
    key: str

    @property
    def path(self) -> str:
        """`bucket/key`, the form of `minio_image_path` and `minio_file_path`."""
        return f"{self.bucket}/{self.key}"


def object_key(site_id: str, camera: str, at_ms: int, name: str) -> str:
    """`<YYYY-MM-DD>/<site>/<camera>/<name>`: by date, site and camera (UTC date)."""
    day = datetime.fromtimestamp(at_ms / 1000, UTC).strftime("%Y-%m-%d")
    return f"{day}/{site_id}/{camera}/{name}"


def enqueue(
    conn: sqlite3.Connection,
    ref: ObjectRef,
    path: Path,
    kind: UploadKind,
    *,
    camera: str | None = None,
    sha256: str | None = None,
    owned: bool = False,
    segment_id: int | None = None,
    command_id: str | None = None,
) -> bool:
    """Queue `path` for `ref` inside the caller's write transaction.

    Idempotent on (bucket, key): queuing the same object twice keeps the first row and
    returns False. `owned` files (spool copies) are deleted by nvr-uplink once uploaded.
    """
    size = path.stat().st_size if path.exists() else None
    cursor = conn.execute(
        "INSERT INTO uploads (bucket, object_key, path, sha256, bytes, kind, priority, camera,"
        " segment_id, owned, command_id, created_at_ms)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (bucket, object_key) DO NOTHING",
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
            int(owned),
            command_id,
            now_ms(),
        ),
    )
    return cursor.rowcount == 1
