"""request_clip and snapshot end to end: simulated cameras, nvr-backup recording 2 s segments,
nvr-uplink with a real MinIO and mosquitto, the centre asking over MQTT.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from minio_server import MinioServer
from mqtt_broker import MosquittoBroker
from nvr.camsim import CameraSimulator
from nvr.core.tools import require_tool
from nvrtest import wait_until
from uplink.helpers import Process, query
from uplink.receiver import Receiver

from .centre import SITE, Centre, box_config, iso

pytestmark = pytest.mark.timeout(180)

SEGMENT_S = 2
CLIP_S = 4
CAMERAS = ("cam01", "cam02")


@pytest.fixture
def minio(tmp_path: Path) -> Iterator[MinioServer]:
    with MinioServer(tmp_path / "minio") as server:
        yield server


@pytest.fixture
def box(
    tmp_path: Path,
    sim: CameraSimulator,
    broker: MosquittoBroker,
    minio: MinioServer,
    head_office: Receiver,
    processes: list[Process],
) -> Iterator[Path]:
    """nvr-backup recording two simulated cameras; the config nvr-uplink shares with it.

    At the end no log holds a camera password or the MinIO secret key.
    """
    cameras = [{"id": c, "name": f"Camera {c}", "url": sim.camera_url(c)} for c in CAMERAS]
    config = box_config(
        tmp_path,
        broker,
        cameras=cameras,
        head_office_url=head_office.url,
        minio=minio.config_section(),
        recording={"segment_seconds": SEGMENT_S},
    )
    processes.append(Process("nvr.backup.main", config))
    yield config
    secrets = [minio.secret_key, *(sim.password(c) for c in CAMERAS)]
    for proc in processes:
        text = proc.text()
        assert not [s for s in secrets if s in text], f"a credential reached {proc.log.name}"


def recorded_range(state_file: Path, camera: str, seconds: int) -> datetime:
    """A start time such that [start, start + seconds] is indexed (waits for the segments)."""

    def covered() -> datetime | None:
        rows = (
            query(
                state_file,
                "SELECT min(start_ms), max(end_ms) FROM segments WHERE camera = ?",
                camera,
            )
            if state_file.exists()
            else []
        )
        if not rows or rows[0][0] is None:
            return None
        first, last = rows[0]
        start = first + 1_000  # inside the first segment, not on its edge
        return datetime.fromtimestamp(start / 1000, UTC) if last >= start + seconds * 1000 else None

    return wait_until(covered, 60, f"{seconds} s of {camera} recorded and indexed")


def ffprobe(url: str) -> dict[str, Any]:
    out = subprocess.run(
        [require_tool("ffprobe"), "-v", "error", "-print_format", "json", "-show_streams",
         "-show_format", url],
        capture_output=True, text=True, timeout=30, check=True,
    ).stdout  # fmt: skip
    return dict(json.loads(out))


def test_request_clip_exports_uploads_protects_and_reports(
    tmp_path: Path,
    box: Path,
    minio: MinioServer,
    centres: Callable[[], Centre],
    processes: list[Process],
    head_office: Receiver,
) -> None:
    state_file = tmp_path / "state.db"
    start = recorded_range(state_file, "cam01", CLIP_S)
    processes.append(Process("nvr.uplink.main", box))
    centre = centres()
    centre.wait_message(f"status/{SITE}", 30, "online", state="online")

    args = {"camera": "cam01", "start": iso(start), "duration": CLIP_S}
    command = centre.command("request_clip", args)
    accepted = centre.wait_result(command["id"], "accepted")
    assert accepted["result"] == {"missing": []}  # the whole range is recorded
    done = centre.wait_result(command["id"], "done", timeout=60)["result"]

    # The object is in MinIO under the agreed key, and it plays: H.264 of the asked length.
    bucket, key = done["minio_file_path"].split("/", 1)
    hhmmss = start.strftime("%H%M%S")
    assert bucket == "recordings"
    assert key == f"{start:%Y/%m/%d}/{SITE}/cam01/clip-{hhmmss}-{CLIP_S}s-{command['id']}.mp4"
    client = minio.client()
    assert client.stat_object(bucket, key).size == done["bytes"]
    # Beside it, the manifest signed by the box: the clip's hash, its segments, the site.
    assert done["manifest_file_path"] == f"{bucket}/{key}.manifest.json"
    manifest = json.loads(client.get_object(bucket, f"{key}.manifest.json").read())
    assert manifest["clip"]["sha256"] == done["sha256"] and manifest["site"] == SITE
    assert manifest["segments"] and manifest["key"]["algorithm"] == "ed25519"
    probe = ffprobe(client.presigned_get_object(bucket, key, expires=timedelta(minutes=5)))
    (video,) = [s for s in probe["streams"] if s["codec_type"] == "video"]
    assert video["codec_name"] == "h264"
    # Stream copy cuts at keyframes (1 s GOP here): within a GOP plus a segment of the ask.
    assert abs(float(probe["format"]["duration"]) - CLIP_S) <= SEGMENT_S + 1

    # The range is protected from the janitor, naming the command.
    from_ms = int(start.timestamp() * 1000)
    ((camera, p_from, p_to, reason),) = query(
        state_file, "SELECT camera, from_ms, to_ms, reason FROM protections"
    )
    assert (camera, p_from, p_to) == ("cam01", from_ms, from_ms + CLIP_S * 1000)
    assert command["id"] in reason
    assert done["protection_id"] == 1 and done["missing"] == []

    # Head office heard of it: accepted, then done with the object path.
    wait_until(
        lambda: any(
            e["kind"] == "command" and e["body"]["state"] == "done"
            for e in list(head_office.reports.values())
        ),
        30,
        "the done command report at head office",
    )
    with head_office.lock:
        bodies = [e["body"] for e in head_office.reports.values() if e["kind"] == "command"]
    assert [b["state"] for b in bodies] == ["accepted", "done"]
    assert bodies[1]["result"]["minio_file_path"] == done["minio_file_path"]
    assert bodies[1]["args"] == args
    # The spool copy is gone once uploaded.
    assert not list((tmp_path / "spool" / "clips").rglob("*.mp4"))


def test_snapshot_and_a_clip_that_outlives_a_restart(
    tmp_path: Path,
    box: Path,
    minio: MinioServer,
    centres: Callable[[], Centre],
    processes: list[Process],
) -> None:
    state_file = tmp_path / "state.db"
    uplink = Process("nvr.uplink.main", box)
    processes.append(uplink)
    centre = centres()
    centre.wait_message(f"status/{SITE}", 30, "online", state="online")

    snap = centre.command("snapshot", {"camera": "cam02"})
    result = centre.wait_result(snap["id"], "done", timeout=60)["result"]
    bucket, key = result["minio_image_path"].split("/", 1)
    assert bucket == "alarm-images" and key.endswith(f"/{SITE}/cam02/snapshot-{snap['id']}.jpg")
    image = minio.client().get_object(bucket, key).read()
    assert image[:2] == b"\xff\xd8" and len(image) == result["bytes"] > 1_000  # a JPEG

    # MinIO goes away; a clip is accepted and exported, but its upload has to wait...
    start = recorded_range(state_file, "cam02", CLIP_S)
    minio.stop()
    clip = centre.command("request_clip", {"camera": "cam02", "start": iso(start), "duration": 3})
    centre.wait_result(clip["id"], "accepted")
    wait_until(
        lambda: query(state_file, "SELECT state FROM uploads WHERE command_id = ?", clip["id"]),
        60,
        "the clip exported and queued",
    )
    # ... through a kill -9 of nvr-uplink. The next process resumes it and finishes.
    uplink.kill()
    minio.start()
    processes.append(Process("nvr.uplink.main", box))
    done = centre.wait_result(clip["id"], "done", timeout=90)["result"]
    bucket, key = done["minio_file_path"].split("/", 1)
    assert minio.client().stat_object(bucket, key).size == done["bytes"]
    assert "resuming after a restart" in processes[-1].text()
    assert query(state_file, "SELECT count(*) FROM protections") == [(1,)]  # protected once
