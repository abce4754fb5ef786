"""Shared pieces of the MinIO tests: configs, queued files, objects read back from MinIO."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path
from typing import Any, Protocol

import yaml
from minio import Minio
from minio.error import S3Error

from nvr.core.state import StateStore
from nvr.core.tables.uploads import ObjectRef, UploadKind, enqueue, object_key

SITE = "test-01"
FAST_RETRY = {"retry_initial_seconds": 0.2, "retry_max_seconds": 1.0}


class MinioTarget(Protocol):
    """What a box is pointed at: a MinioServer, or a site's key on a MinioCluster."""

    def config_section(self, **overrides: Any) -> dict[str, Any]: ...


def write_config(
    root: Path,
    minio: MinioTarget,
    cameras: list[dict[str, Any]] | None = None,
    minio_overrides: dict[str, Any] | None = None,
    **sections: Any,
) -> Path:
    """nvr.yaml for real daemons under `root`, uplink.minio pointing at `minio`."""
    (root / "recordings").mkdir(exist_ok=True)
    (root / "state").mkdir(exist_ok=True)
    uplink = {"minio": minio.config_section(**(minio_overrides or {})), **FAST_RETRY}
    uplink.update(sections.pop("uplink", {}))
    data: dict[str, Any] = {
        "site": {"id": SITE, "name": "Test site"},
        "storage": {
            "recordings_dir": str(root / "recordings"),
            "state_file": str(root / "state" / "state.db"),
        },
        "cameras": cameras
        or [{"id": "cam01", "name": "Gate", "url": "rtsp://admin:s3cr3t-pw@127.0.0.1:8554/cam01"}],
        "uplink": uplink,
        **sections,
    }
    path = root / "nvr.yaml"
    path.write_text(yaml.safe_dump(data))
    StateStore.open(state_file(root)).close()  # the schema exists before any daemon starts
    return path


def state_file(root: Path) -> Path:
    return root / "state" / "state.db"


def queue_file(
    root: Path,
    name: str,
    content: bytes,
    kind: UploadKind,
    bucket: str,
    *,
    owned: bool = True,
    camera: str = "cam01",
    at_ms: int = 1_795_000_000_000,
    sha256: str | None = None,
) -> tuple[ObjectRef, Path]:
    """Write a file under root/files and queue it like a daemon would."""
    path = root / "files" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    ref = ObjectRef(bucket, object_key(SITE, camera, at_ms, name))
    with StateStore.open(state_file(root)) as store, store.write() as conn:
        enqueue(conn, ref, path, kind, camera=camera, owned=owned, sha256=sha256)
    return ref, path


def query(root: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(state_file(root), timeout=10)
    try:
        return list(conn.execute(sql, params).fetchall())
    finally:
        conn.close()


def execute(root: Path, sql: str, *params: Any) -> None:
    """One statement in its own committed transaction (as a crash or a janitor would leave)."""
    conn = sqlite3.connect(state_file(root), timeout=10)
    try:
        with conn:
            conn.execute(sql, params)
    finally:
        conn.close()


def states(root: Path) -> dict[str, str]:
    """object_key -> state of every upload row."""
    return dict((r[0], r[1]) for r in query(root, "SELECT object_key, state FROM uploads"))


def minio_detail(root: Path) -> dict[str, Any]:
    """The MinIO service's figures in nvr-uplink's heartbeat."""
    rows = query(root, "SELECT detail_json FROM heartbeats WHERE daemon = 'nvr-uplink'")
    if not rows:
        return {}
    detail: dict[str, Any] = json.loads(rows[0][0]).get("services", {}).get("minio", {})
    return detail


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fetch(client: Minio, ref: ObjectRef) -> bytes | None:
    """The object's content, None when there is no such object."""
    try:
        response = client.get_object(ref.bucket, ref.key)
    except S3Error as err:
        if err.code == "NoSuchKey":
            return None
        raise
    try:
        return response.read()
    finally:
        response.close()
        response.release_conn()


def stored_sha256(client: Minio, ref: ObjectRef) -> str | None:
    """The sha256 user metadata the object was stored with."""
    value = client.stat_object(ref.bucket, ref.key).metadata.get("x-amz-meta-sha256")
    return str(value) if value else None
