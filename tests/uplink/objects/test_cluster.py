"""The offsite tier on an erasure-coded MinIO cluster shared by many sites.

One cluster per module: 4 MinIO processes on loopback, one drive each (EC:2). The box
(real nvr-backup and nvr-uplink recording a simulated camera) uploads with its site's own
access key; one node dies and comes back; another site's key is fenced off its keys.
See docs/design/objects.md, "Many sites, one cluster".
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from minio.commonconfig import CopySource
from minio.error import S3Error

from nvr.core.config import parse_config
from nvr.core.config.uplink import MinioConfig
from nvr.core.state import StateStore, now_ms
from nvr.core.tables.events import Severity, record_event
from nvr.core.tables.uploads import IMAGES_BUCKET, RECORDINGS_BUCKET, ObjectRef, object_key
from nvr.uplink.objects.store import ObjectStore, ObjectStoreError
from nvr.uplink.objects.throttle import MeteredReader
from nvr_camsim import CameraSimulator
from nvrtest import NotifySocket, NvrDaemon, base_config, query_state, run_nvrctl, wait_until
from nvrtest.minio_server import MinioCluster
from uplink.helpers import checked_daemons

from .harness import SITE, write_config

pytestmark = pytest.mark.timeout(240)

BUCKETS = (IMAGES_BUCKET, RECORDINGS_BUCKET)
DOWN_NODE = 3  # the box talks to node 0, as it would to the load balancer in front
MULTIPART_BYTES = 6 << 20  # above the 5 MiB part: the SDK's multipart path


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MinioCluster]:
    """One cluster for the module, its buckets made by the company (sites may not)."""
    with MinioCluster(tmp_path_factory.mktemp("cluster")) as started:
        for bucket in BUCKETS:
            started.client().make_bucket(bucket)
        yield started


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read(account: Any, bucket: str, key: str) -> bytes:
    response = account.get_object(bucket, key)
    try:
        return bytes(response.read())
    finally:
        response.close()
        response.release_conn()


def done_uploads(state_file: Path) -> dict[tuple[str, str], str | None]:
    """(bucket, key) -> the SHA-256 the index holds (None: hashed at upload), uploads done."""
    rows = query_state(
        state_file, "SELECT bucket, object_key, sha256 FROM uploads WHERE state = 'done'"
    )
    return {(bucket, key): digest for bucket, key, digest in rows}


def segments_copied_since(state_file: Path, since_ms: int) -> int:
    return len(
        query_state(
            state_file,
            "SELECT u.id FROM uploads u JOIN segments s ON s.id = u.segment_id"
            " WHERE u.kind = 'offsite' AND u.state = 'done' AND s.start_ms >= ?",
            since_ms,
        )
    )


def all_segments_copied(state_file: Path) -> bool:
    missing = query_state(
        state_file,
        "SELECT s.id FROM segments s LEFT JOIN uploads u"
        " ON u.segment_id = s.id AND u.state = 'done' WHERE s.camera = 'cam01' AND u.id IS NULL",
    )
    return not missing


def clip_follow_up(state_file: Path, alarm_id: int) -> dict[str, Any] | None:
    for (data,) in query_state(
        state_file, "SELECT data_json FROM events WHERE kind = 'alarm_clip'"
    ):
        parsed: dict[str, Any] = json.loads(data)
        if parsed["alarm_event_id"] == alarm_id:
            return parsed
    return None


def on_drive(cluster: MinioCluster, node: int, bucket: str, key: str) -> bool:
    """True when the node's drive holds the object's metadata (its erasure shard is there)."""
    return (cluster.drive(node) / bucket / key / "xl.meta").exists()


@pytest.fixture
def processes(cluster: MinioCluster) -> Iterator[list[NvrDaemon]]:
    """Daemons of the test; at the end killed, and no root secret in their logs."""
    yield from checked_daemons((cluster.secret_key,))


def test_box_uploads_go_on_with_a_node_down_and_every_object_heals(
    tmp_path: Path,
    sim: CameraSimulator,
    cluster: MinioCluster,
    notify: NotifySocket,
    processes: list[NvrDaemon],
) -> None:
    assert cluster.backend()["standardSCParity"] == 2  # EC:2 over one set of 4 drives
    account = cluster.add_site(SITE, BUCKETS)
    cameras = [
        {"id": "cam01", "name": "Gate", "url": sim.camera_url("cam01"), "offsite_copy": True}
    ]
    config = write_config(
        tmp_path,
        account,
        cameras=cameras,
        recording={"segment_seconds": 2},
        uplink={"event_clips": {"before_seconds": 2, "after_seconds": 2}},
    )
    state_file = tmp_path / "state" / "state.db"
    processes.append(NvrDaemon("nvr.backup.main", config))
    processes.append(NvrDaemon("nvr.uplink.main", config, notify.path))
    wait_until(lambda: segments_copied_since(state_file, 0) >= 2, 60, "copies, all up")

    cluster.stop_node(DOWN_NODE)
    down_ms, down_at = now_ms(), time.monotonic()
    assert cluster.writable()  # 3 of 4 drives: the write quorum
    before = done_uploads(state_file)
    alarm_id = raise_alarm(state_file)
    clip = wait_until(lambda: clip_follow_up(state_file, alarm_id), 60, "the clip, one down")
    manifest = clip["clip_path"].split("/", 1)[1] + ".manifest.json"  # queued with the clip
    wait_until(
        lambda: (
            query_state(state_file, "SELECT state FROM uploads WHERE object_key = ?", manifest)
            == [("done",)]
        ),
        30,
        "the clip's signed manifest uploaded",
    )
    wait_until(lambda: segments_copied_since(state_file, down_ms) >= 3, 60, "copies, one node down")
    during = {k: v for k, v in done_uploads(state_file).items() if k not in before}
    # Nothing waited: the box never saw MinIO down, and the drive got none of it.
    assert not [m for m, t in zip(notify.messages, notify.arrivals, strict=False)
                if t >= down_at and "MinIO down" in m]  # fmt: skip
    assert not [k for k in during if on_drive(cluster, DOWN_NODE, *k)]
    assert {(RECORDINGS_BUCKET, manifest), tuple(clip["clip_path"].split("/", 1))} <= set(during)

    cluster.start_node(DOWN_NODE)
    back_at = time.monotonic()
    assert processes[0].stop() == 0  # nvr-backup: the last segment closes
    wait_until(lambda: all_segments_copied(state_file), 60, "every segment copied")
    assert not [p for p in processes if account.secret_key in p.log()]

    # Every object is readable with the SHA-256 of the index (and of the local file).
    uploads = done_uploads(state_file)
    root = cluster.client()
    stored: dict[tuple[str, str], str] = {}
    for (bucket, key), digest in uploads.items():
        content = stored[(bucket, key)] = sha256(read(root, bucket, key))
        assert root.stat_object(bucket, key).metadata.get("x-amz-meta-sha256") == content, key
        # The manifest's hash is in no index (it is signed instead); every other one is.
        assert digest == content or (digest is None and key.endswith(".manifest.json")), key
    offsite = query_state(
        state_file,
        "SELECT u.bucket, u.object_key, s.sha256, s.path FROM uploads u JOIN segments s"
        " ON s.id = u.segment_id WHERE u.state = 'done'",
    )
    assert len(offsite) >= 5
    for bucket, key, digest, path in offsite:
        assert uploads[(bucket, key)] == digest
        assert sha256((tmp_path / "recordings" / path).read_bytes()) == digest

    # MinIO heals an object that misses a shard when it is read, once every drive is back
    # in the reading node's view (a read in the second before that heals nothing: read
    # again until the node's drive has every object).
    def unhealed() -> list[tuple[str, str]]:
        missing = [k for k in uploads if not on_drive(cluster, DOWN_NODE, *k)]
        for bucket, key in missing:
            root.stat_object(bucket, key)
        return missing

    wait_until(lambda: not unhealed(), 60, "every object healed onto the node that was down")
    print(
        f"{len(during)} objects healed {time.monotonic() - back_at:.1f}s after the node came back"
    )

    # Healed means redundant again: with two other nodes down every object still reads,
    # while the cluster refuses writes (no write quorum with 2 of 4 drives).
    for node in (1, 2):
        cluster.stop_node(node)
    try:
        wait_until(
            lambda: cluster.readable() and not cluster.writable(), 30, "reads only, 2 of 4 up"
        )
        for bucket, key in uploads:
            assert sha256(read(root, bucket, key)) == stored[(bucket, key)], key
    finally:
        for node in (1, 2):
            cluster.start_node(node)


def test_a_site_key_reaches_only_its_own_site(tmp_path: Path, cluster: MinioCluster) -> None:
    # The company provisions smg-01 with the policy its box prints, smg-02 likewise.
    config_path = tmp_path / "nvr.yaml"
    placeholder = {"endpoint": cluster.endpoint, "access_key": "x", "secret_key": "x"}
    data = base_config(tmp_path, site={"id": "smg-01"}, uplink={"minio": placeholder})
    config_path.write_text(yaml.safe_dump(data))
    printed = run_nvrctl(config_path, "config", "minio-policy")
    assert printed.returncode == 0, printed.stderr
    mine = cluster.add_site("smg-01", BUCKETS, policy=json.loads(printed.stdout))
    theirs = cluster.add_site("smg-02", BUCKETS)
    at_ms = now_ms()
    their_ref = ObjectRef(RECORDINGS_BUCKET, object_key("smg-02", "cam01", at_ms, "08-00-00.mp4"))
    their_data = b"smg-02 evidence"
    theirs.client().put_object(
        their_ref.bucket, their_ref.key, io.BytesIO(their_data), len(their_data)
    )

    # The box's own upload path with its key: bucket check, hash check, multipart, removal.
    data["uplink"]["minio"] = mine.config_section(part_size_mb=5)
    store = ObjectStore(box_minio(data, config_path))
    assert [store.ensure_bucket(bucket) for bucket in BUCKETS] == [False, False]
    own = ObjectRef(RECORDINGS_BUCKET, object_key("smg-01", "cam01", at_ms, "08-00-00.mp4"))
    content = bytes(range(256)) * (MULTIPART_BYTES // 256)
    assert store.stored_sha256(own) is None
    store.put(own, reader(content), len(content), sha256(content))
    assert store.stored_sha256(own) == sha256(content)
    assert sha256(read(mine.client(), own.bucket, own.key)) == sha256(content)

    # Another site's keys: every way in is a clear AccessDenied, through the box's code too.
    refused = [
        lambda: store.stored_sha256(their_ref),
        lambda: store.put(their_ref, reader(b"forged"), 6, sha256(b"forged")),
        lambda: store.put(their_ref, reader(content), len(content), sha256(content)),
        lambda: store.remove(their_ref),
    ]
    for attempt in refused:
        with pytest.raises(ObjectStoreError, match=re.escape(f"{their_ref.path}: AccessDenied")):
            attempt()
    client = mine.client()
    smuggled = f"{their_ref.key.rsplit('/', 2)[0]}/smg-01/x.mp4"  # a camera named smg-01
    sdk_refused: list[Callable[[], object]] = [
        lambda: read(client, their_ref.bucket, their_ref.key),
        lambda: list(client.list_objects(RECORDINGS_BUCKET, prefix=their_ref.key[:18])),
        lambda: list(client.list_objects(RECORDINGS_BUCKET, recursive=True)),
        lambda: client.put_object(RECORDINGS_BUCKET, smuggled, io.BytesIO(b"x"), 1),
        lambda: client.copy_object(
            own.bucket, own.key + ".copy", CopySource(their_ref.bucket, their_ref.key)
        ),
        lambda: client.make_bucket("smg-01-own"),
    ]
    for attempt in sdk_refused:
        with pytest.raises(S3Error) as caught:
            attempt()
        assert caught.value.code == "AccessDenied"
    assert sha256(read(theirs.client(), their_ref.bucket, their_ref.key)) == sha256(their_data)

    # Rotation: a second key of the same site works at once; the old one, removed, is refused.
    rotated = cluster.add_access_key("smg-01")
    cluster.remove_access_key(mine)
    with pytest.raises(S3Error) as caught:
        read(mine.client(), own.bucket, own.key)
    assert caught.value.code == "InvalidAccessKeyId"
    data["uplink"]["minio"] = rotated.config_section(part_size_mb=5)
    store = ObjectStore(box_minio(data, config_path))
    assert store.stored_sha256(own) == sha256(content)
    with pytest.raises(ObjectStoreError, match=re.escape(f"{their_ref.path}: AccessDenied")):
        store.stored_sha256(their_ref)
    store.remove(own)
    assert store.stored_sha256(own) is None


def box_minio(data: dict[str, Any], path: Path) -> MinioConfig:
    minio = parse_config(data, path).uplink.minio
    assert minio is not None
    return minio


def reader(content: bytes) -> MeteredReader:
    """What the upload service hands the SDK: the file, metered (no cap here) and hashed."""
    return MeteredReader(io.BytesIO(content), None, threading.Event())


def raise_alarm(state_file: Path) -> int:
    """A critical event of cam01 (an alarm gets a clip); its id."""
    with StateStore.open(state_file) as store:
        return record_event(
            store,
            source="nvr-hse",
            severity=Severity.CRITICAL,
            kind="external_alarm",
            camera="cam01",
            message="camera=cam01 NoHelmet reported by the site's AI box",
            data={"alarm_type": "NoHelmet"},
        )
