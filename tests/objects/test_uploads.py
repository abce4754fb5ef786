"""Uploads through a real nvr-uplink to a real MinIO: keys, content, idempotency, outages."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from minio_server import MinioServer
from nvr.core.uploads import IMAGES_BUCKET, RECORDINGS_BUCKET, UploadKind
from nvrtest import NotifySocket, wait_until
from uplink.helpers import Process

from .harness import (
    SITE,
    execute,
    fetch,
    minio_detail,
    query,
    queue_file,
    sha256,
    states,
    stored_sha256,
    write_config,
)

pytestmark = pytest.mark.timeout(120)
UPLINK = "nvr.uplink.main"


def start_uplink(config: Path, processes: list[Process], notify: NotifySocket) -> Process:
    proc = Process(UPLINK, config, notify.path)
    processes.append(proc)
    wait_until(lambda: notify.has("READY=1"), 30, "nvr-uplink READY")
    return proc


def all_done(root: Path, count: int) -> bool:
    found = states(root)
    return len(found) == count and set(found.values()) == {"done"}


def test_files_land_under_their_key_once_and_spool_copies_go(
    tmp_path: Path, minio: MinioServer, processes: list[Process], notify: NotifySocket
) -> None:
    config = write_config(tmp_path, minio)
    client = minio.client()
    picture = os.urandom(40_000)
    clip = os.urandom(300_000)
    evidence = os.urandom(120_000)
    snap_ref, snap_path = queue_file(tmp_path, "a.jpg", picture, UploadKind.SNAPSHOT, IMAGES_BUCKET)
    clip_ref, clip_path = queue_file(tmp_path, "b.mp4", clip, UploadKind.CLIP, RECORDINGS_BUCKET)
    kept_ref, kept_path = queue_file(
        tmp_path, "c.mp4", evidence, UploadKind.CLIP, RECORDINGS_BUCKET, owned=False
    )
    # A stale object of another content under the clip's key is replaced, not trusted.
    client.make_bucket(RECORDINGS_BUCKET)
    client.put_object(RECORDINGS_BUCKET, clip_ref.key, io.BytesIO(b"stale"), 5)

    start_uplink(config, processes, notify)
    wait_until(lambda: all_done(tmp_path, 3), 30, "three uploads done")

    assert snap_ref.key == f"2026/11/18/{SITE}/cam01/a.jpg"  # by date, site, camera
    for ref, content in ((snap_ref, picture), (clip_ref, clip), (kept_ref, evidence)):
        assert sha256(fetch(client, ref) or b"") == sha256(content), ref.path
        assert stored_sha256(client, ref) == sha256(content)
    assert client.stat_object(IMAGES_BUCKET, snap_ref.key).content_type == "image/jpeg"
    assert not snap_path.exists() and not clip_path.exists(), "spool copies stay after upload"
    assert kept_path.exists(), "a file the queue does not own was deleted"
    wait_until(lambda: notify.status("MinIO ok (0 pending)"), 10, "MinIO ok in STATUS")
    assert minio_detail(tmp_path)["uploaded"] == 3
    first = {
        o.object_name: o.last_modified for o in client.list_objects(RECORDINGS_BUCKET, "", True)
    }

    # As if nvr-uplink died after the upload and before its commit: the row is pending
    # again. The restarted process finds the object with the same hash and does not resend.
    assert processes[-1].stop() == 0
    with_pending = "UPDATE uploads SET state = 'pending', done_at_ms = NULL WHERE object_key = ?"
    execute(tmp_path, with_pending, kept_ref.key)
    processes.append(Process(UPLINK, config))
    wait_until(lambda: all_done(tmp_path, 3), 30, "the re-queued row done again")
    wait_until(lambda: minio_detail(tmp_path).get("already_there") == 1, 15, "heartbeat figures")
    assert minio_detail(tmp_path)["uploaded"] == 0
    again = {
        o.object_name: o.last_modified for o in client.list_objects(RECORDINGS_BUCKET, "", True)
    }
    assert again == first, "an object already stored with its hash was uploaded again"


def test_minio_outage_delays_uploads_and_loses_nothing(
    tmp_path: Path, minio: MinioServer, processes: list[Process], notify: NotifySocket
) -> None:
    config = write_config(tmp_path, minio, minio_overrides={"part_size_mb": 5})
    proc = start_uplink(config, processes, notify)
    wait_until(lambda: notify.status("MinIO ok (0 pending)"), 20, "MinIO ok before the outage")

    minio.stop()
    contents = {f"f{i}.bin": os.urandom(50_000 * (i + 1)) for i in range(4)}
    contents["big.mp4"] = os.urandom(6 * 1024 * 1024 + 123)  # two parts of 5 MiB: multipart
    refs = {
        name: queue_file(tmp_path, name, data, UploadKind.CLIP, RECORDINGS_BUCKET)[0]
        for name, data in contents.items()
    }
    wait_until(
        lambda: notify.status(", 5 pending, retry in"), 20, "STATUS says MinIO is down, 5 pending"
    )
    down = next(m for m in reversed(notify.texts()) if "MinIO down" in m)
    assert "cannot reach 127.0.0.1" in down and "connection refused" in down, down
    failed = query(tmp_path, "SELECT attempts, last_error FROM uploads WHERE attempts > 0")
    assert failed and all("connection refused" in error for _, error in failed)
    assert set(states(tmp_path).values()) == {"pending"}

    minio.start()
    wait_until(lambda: all_done(tmp_path, 5), 60, "every upload after MinIO came back")
    client = minio.client()
    for name, data in contents.items():
        assert sha256(fetch(client, refs[name]) or b"") == sha256(data), name
    wait_until(lambda: notify.status("MinIO ok (0 pending)"), 10, "MinIO ok again in STATUS")
    log = proc.text()
    assert log.count("down: ") == 1, "the outage should be told once"
    assert log.count("reachable again") == 1


def test_refused_credentials_are_one_line_and_the_secret_stays_out(
    tmp_path: Path, minio: MinioServer, processes: list[Process], notify: NotifySocket
) -> None:
    wrong = "not-the-minio-secret-9d41c7"
    config = write_config(tmp_path, minio, minio_overrides={"secret_key": wrong})
    queue_file(tmp_path, "a.jpg", b"\xff\xd8 picture", UploadKind.SNAPSHOT, IMAGES_BUCKET)
    proc = start_uplink(config, processes, notify)

    wait_until(lambda: notify.status("MinIO down: bucket"), 20, "MinIO down in STATUS")
    line = next(m for m in reversed(notify.texts()) if "MinIO down" in m)
    assert "SignatureDoesNotMatch" in line and "1 pending" in line, line
    assert "\n" not in line.split("STATUS=", 1)[1].strip()
    assert "Traceback" not in proc.text()
    stored = query(tmp_path, "SELECT last_error FROM uploads")[0][0]
    detail = str(minio_detail(tmp_path))
    for text in (proc.text(), stored, detail, line):
        assert wrong not in text
    assert list(states(tmp_path).values()) == ["pending"]
