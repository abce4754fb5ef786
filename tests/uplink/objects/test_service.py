"""The upload service in-process against a real MinIO: the bandwidth cap, changed files, pruning."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from nvr.core.config import Config, parse_config
from nvr.core.state import StateStore
from nvr.core.tables.offsite import offsite_status
from nvr.core.tables.uploads import IMAGES_BUCKET, RECORDINGS_BUCKET, UploadKind
from nvr.uplink.constants import UPLOADS_KEEP_MS
from nvr.uplink.objects.queue_state import prune
from nvr.uplink.objects.uploader import UploadService
from nvrtest import wait_until
from nvrtest.minio_server import MinioServer

from .harness import execute, fetch, query, queue_file, sha256, state_file, states, write_config

pytestmark = pytest.mark.timeout(60)


def load(path: Path) -> Config:
    return parse_config(yaml.safe_load(path.read_text()), path)


@pytest.fixture
def services() -> Iterator[list[UploadService]]:
    """Upload services started by the test, stopped at its end."""
    started: list[UploadService] = []
    yield started
    for service in started:
        service.stop(10)


def run(config: Config, started: list[UploadService]) -> UploadService:
    service = UploadService(config)
    service.start()
    started.append(service)
    return service


def test_bandwidth_cap_holds(
    tmp_path: Path, minio: MinioServer, services: list[UploadService]
) -> None:
    # 800 kbit/s = 100 kB/s; the bucket starts with one second of it, so 400 kB cannot
    # take less than 3 s. (A lower bound only: the machine may be slower, never faster.)
    config = load(write_config(tmp_path, minio, minio_overrides={"bandwidth_limit_kbps": 800}))
    content = os.urandom(400_000)
    ref, _ = queue_file(tmp_path, "clip.mp4", content, UploadKind.CLIP, RECORDINGS_BUCKET)
    started = time.monotonic()
    run(config, services)
    wait_until(lambda: states(tmp_path)[ref.key] == "done", 30, "the capped upload")
    elapsed = time.monotonic() - started
    assert elapsed >= 3.0, f"400 kB at 100 kB/s took only {elapsed:.2f}s"
    assert sha256(fetch(minio.client(), ref) or b"") == sha256(content)


def test_file_changed_after_queuing_is_not_kept_in_minio(
    tmp_path: Path, minio: MinioServer, services: list[UploadService]
) -> None:
    config = load(write_config(tmp_path, minio))
    original = b"\xff\xd8 the picture as queued"
    ref, path = queue_file(
        tmp_path, "a.jpg", original, UploadKind.SNAPSHOT, IMAGES_BUCKET, sha256=sha256(original)
    )
    path.write_bytes(b"\xff\xd8 something else")
    run(config, services)
    wait_until(lambda: states(tmp_path)[ref.key] == "lost", 20, "the changed file given up")
    reason = query(tmp_path, "SELECT last_error FROM uploads")[0][0]
    assert "content changed since it was queued" in reason
    assert fetch(minio.client(), ref) is None


def add_segment(root: Path, camera: str, name: str, start_ms: int, content: bytes) -> None:
    """A finished segment as nvr-backup leaves it: the file, then its row."""
    relative = f"{camera}/2026-11-22/{name}"
    path = root / "recordings" / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    execute(
        root,
        "INSERT INTO segments (camera, path, start_ms, end_ms, bytes, sha256, created_at_ms)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        camera,
        relative,
        start_ms,
        start_ms + 2_000,
        len(content),
        sha256(content),
        start_ms + 2_000,
    )


def test_pruning_finished_rows_keeps_the_totals(tmp_path: Path, minio: MinioServer) -> None:
    camera = {"id": "cam01", "url": "rtsp://127.0.0.1:8554/cam01", "offsite_copy": True}
    config = load(write_config(tmp_path, minio, cameras=[camera]))
    with StateStore.open(state_file(tmp_path)) as store:
        for second, name in enumerate(("08-00-00.mp4", "08-00-02.mp4")):
            add_segment(tmp_path, "cam01", name, 1_795_000_000_000 + 2_000 * second, b"x" * 1000)
        service = UploadService(config)
        wait_until(
            lambda: service.step(store) > 0 and set(states(tmp_path).values()) == {"done"},
            20,
            "both segments copied",
        )
        now = int(time.time() * 1000)
        execute(
            tmp_path,
            "UPDATE uploads SET done_at_ms = ? WHERE object_key LIKE '%08-00-00.mp4'",
            now - UPLOADS_KEEP_MS - 1,
        )
        before = offsite_status(store.read(), ["cam01"], now - 60_000, now + 60_000)
        assert before["cameras"][0]["copied_total"] == {"segments": 2, "bytes": 2000}
        assert before["cameras"][0]["copied"]["segments"] == 1  # done within the period
        assert prune(store, now - UPLOADS_KEEP_MS) == 1
        after = offsite_status(store.read(), ["cam01"], now - 60_000, now + 60_000)
    assert len(states(tmp_path)) == 1
    assert after["cameras"][0]["copied_total"] == before["cameras"][0]["copied_total"]
    assert after["total"]["pending"] == {"segments": 0, "bytes": 0}
    assert after["total"]["behind_seconds"] == 0.0
