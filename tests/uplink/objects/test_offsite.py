"""Offsite copy for real: nvr-backup records simulated cameras, nvr-uplink copies to MinIO.

MinIO is down while the camera records, retention deletes one segment before it could be
copied, MinIO comes back: every remaining segment lands with its hash, and the status
report body says what was lost and that the copy caught up.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from nvr.core.config import parse_config
from nvr.core.state import StateStore, now_ms
from nvr.core.tables.uploads import RECORDINGS_BUCKET, ObjectRef, object_key
from nvr.core.timeutil import format_ms
from nvr.hddmon.index import JanitorSegment
from nvr.hddmon.janitor import Janitor, PassResult
from nvr.report.status import status_body
from nvr_camsim import CameraSimulator
from nvrtest import NotifySocket, NvrDaemon, wait_until
from nvrtest.minio_server import MinioServer

from .harness import SITE, fetch, query, sha256, state_file, stored_sha256, write_config

pytestmark = pytest.mark.timeout(180)
HOUR_MS = 3_600_000


def segments(root: Path, camera: str) -> list[JanitorSegment]:
    rows = query(
        root,
        "SELECT id, camera, path, start_ms, end_ms, bytes FROM segments"
        " WHERE camera = ? AND status = 'ok' ORDER BY id",
        camera,
    )
    return [JanitorSegment(*row) for row in rows]


def segment_sha256(root: Path, segment: JanitorSegment) -> str:
    return str(query(root, "SELECT sha256 FROM segments WHERE id = ?", segment.id)[0][0])


def ref_of(segment: JanitorSegment) -> ObjectRef:
    key = object_key(SITE, segment.camera, segment.start_ms, Path(segment.path).name)
    return ObjectRef(RECORDINGS_BUCKET, key)


def report_objects(root: Path, config_path: Path) -> dict[str, Any]:
    """The `objects` section of the status report nvr-report would send now."""
    config = parse_config(yaml.safe_load(config_path.read_text()), config_path)
    now = now_ms()
    with StateStore.open(state_file(root)) as store:
        section: dict[str, Any] = status_body(store.read(), config, now - HOUR_MS, now)["objects"]
    return section


def copied(root: Path, wanted: list[JanitorSegment]) -> bool:
    done = {
        row[0]
        for row in query(root, "SELECT segment_id FROM uploads WHERE state = 'done'")
        if row[0] is not None
    }
    return all(segment.id in done for segment in wanted)


def test_offsite_copy_catches_up_after_an_outage_and_reports_what_retention_took(
    tmp_path: Path,
    sim: CameraSimulator,
    minio: MinioServer,
    processes: list[NvrDaemon],
    notify: NotifySocket,
) -> None:
    cameras = [
        {"id": "cam01", "name": "Gate", "url": sim.camera_url("cam01"), "offsite_copy": True},
        {"id": "cam02", "name": "Yard", "url": sim.camera_url("cam02")},
    ]
    config = write_config(tmp_path, minio, cameras=cameras, recording={"segment_seconds": 2})
    minio.stop()
    processes.append(NvrDaemon("nvr.backup.main", config))
    processes.append(NvrDaemon("nvr.uplink.main", config, notify.path))

    wait_until(lambda: len(segments(tmp_path, "cam01")) >= 4, 60, "four segments of cam01")
    wait_until(lambda: notify.status("MinIO down: "), 30, "MinIO down in STATUS")
    waiting = report_objects(tmp_path, config)["offsite"]
    assert [entry["camera"] for entry in waiting["cameras"]] == ["cam01"]
    assert waiting["cameras"][0]["pending"]["segments"] >= 4
    assert waiting["cameras"][0]["behind_seconds"] >= 6  # the oldest waits since 4 segments

    # Retention takes the oldest segment before it could be copied (hddmon's own procedure).
    victim = segments(tmp_path, "cam01")[0]
    with StateStore.open(state_file(tmp_path)) as store:
        janitor = Janitor(store, tmp_path / "recordings", now_ms)
        janitor.delete([victim], "retention", PassResult(reason="retention"))
    wait_until(
        lambda: query(
            tmp_path, "SELECT message, data_json FROM events WHERE kind = ?", "offsite_copy_lost"
        ),
        30,
        "the loss reported as an event",
    )

    minio.start()
    in_progress = segments(tmp_path, "cam01")
    wait_until(lambda: copied(tmp_path, in_progress), 60, "the copy catching up while recording")
    assert processes[0].stop() == 0  # nvr-backup: the last segment closes
    final = segments(tmp_path, "cam01")
    wait_until(lambda: copied(tmp_path, final), 60, "every segment of cam01 copied")

    client = minio.client()
    for segment in final:
        data = (tmp_path / "recordings" / segment.path).read_bytes()
        assert stored_sha256(client, ref_of(segment)) == segment_sha256(tmp_path, segment)
        assert sha256(fetch(client, ref_of(segment)) or b"") == sha256(data), segment.path
    assert fetch(client, ref_of(victim)) is None
    names = [obj.object_name for obj in client.list_objects(RECORDINGS_BUCKET, recursive=True)]
    assert len(names) == len(final)
    assert not [name for name in names if "/cam02/" in name], "cam02 has no offsite copy"

    (message, data_json), *_ = query(
        tmp_path, "SELECT message, data_json FROM events WHERE kind = 'offsite_copy_lost'"
    )
    assert "1 segment (" in message and "camera=cam01" in message
    assert json.loads(data_json)["cameras"]["cam01"]["from"] == format_ms(victim.start_ms)

    time.sleep(0.5)  # let the figures settle past the last commit
    section = report_objects(tmp_path, config)["offsite"]
    entry = section["cameras"][0]
    assert entry["pending"] == {"segments": 0, "bytes": 0}
    assert entry["behind_seconds"] == 0.0
    assert entry["copied"]["segments"] == len(final)
    assert entry["lost_before_copy"] == {
        "segments": 1,
        "bytes": victim.bytes,
        "from": format_ms(victim.start_ms),
        "to": format_ms(victim.end_ms),
    }
    assert section["total"]["lost_before_copy_total"] == {"segments": 1, "bytes": victim.bytes}
