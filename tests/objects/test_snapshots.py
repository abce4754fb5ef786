"""A camera's picture goes black: the HSE alarm points at its picture, and the picture is in MinIO.

Real nvr-validator (simulated camera with a black picture), nvr-report, nvr-uplink, MinIO
and a fake HSE API on loopback.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from minio_server import MinioServer
from nvr.camsim import CameraSimulator, Fault
from nvr.core.uploads import IMAGES_BUCKET, ObjectRef
from nvrtest import wait_until
from uplink.helpers import TOKEN, Process
from uplink.receiver import Receiver

from .harness import SITE, fetch, query, sha256, state_file, states, write_config

pytestmark = pytest.mark.timeout(150)


def test_bad_picture_event_carries_its_minio_image_path(
    tmp_path: Path, sim: CameraSimulator, minio: MinioServer, processes: list[Process]
) -> None:
    hse = Receiver("hse", token=TOKEN)
    try:
        (tmp_path / "hse.token").write_text(TOKEN + "\n")
        cameras = [{"id": "cam03", "name": "Dock", "url": sim.camera_url("cam03")}]
        config = write_config(
            tmp_path,
            minio,
            cameras=cameras,
            uplink={"hse_api": {"url": hse.url, "token_file": str(tmp_path / "hse.token")}},
            validation={"interval_seconds": 60, "sample_seconds": 1, "timeout_seconds": 30},
            report={"event_coalesce_seconds": 1},
        )
        sim.set_fault("cam03", Fault.BLACK)
        processes.append(Process("nvr.report.main", config))
        processes.append(Process("nvr.uplink.main", config))
        # nvr-report reports events after its cursor, set when it first starts.
        wait_until(
            lambda: query(tmp_path, "SELECT 1 FROM report_state WHERE key = 'events_cursor'"),
            30,
            "nvr-report started",
        )
        processes.append(Process("nvr.validator.main", config))

        wait_until(lambda: hse.hse["alarms"], 60, "the alarm at the HSE API")
        alarm = hse.hse["alarms"][0]
        # The HSE platform's alarm_type (nvr.core.alarms), not our event kind.
        assert alarm["camera_name"] == "Dock" and alarm["alarm_type"] == "PictureBlack"
        bucket, key = alarm["minio_image_path"].split("/", 1)
        assert bucket == IMAGES_BUCKET
        # <YYYY>/<MM>/<DD>/<site>/<camera>/<UTC time>.jpg, the date being the picture's own
        match = re.fullmatch(rf"(\d{{4}})/(\d\d)/(\d\d)/{SITE}/cam03/(\d{{8}})T\d{{9}}Z\.jpg", key)
        assert match and "".join(match.groups()[:3]) == match.group(4), key
        data = json.loads(
            query(tmp_path, "SELECT data_json FROM events WHERE kind = 'camera_invalid'")[0][0]
        )
        assert data["minio_image_path"] == alarm["minio_image_path"]

        wait_until(lambda: states(tmp_path).get(key) == "done", 30, "the picture uploaded")
        picture = fetch(minio.client(), ObjectRef(bucket, key))
        assert picture is not None and picture[:2] == b"\xff\xd8", "not a JPEG"
        spool = state_file(tmp_path).parent / "spool" / "snapshots" / "cam03" / Path(key).name
        assert not spool.exists(), "the spool copy stays after the upload"
        last_bad = state_file(tmp_path).parent / "snapshots" / "cam03" / "last_bad.jpg"
        assert last_bad.read_bytes()[:2] == b"\xff\xd8"
        stored = query(tmp_path, "SELECT sha256 FROM uploads WHERE object_key = ?", key)[0][0]
        assert stored == sha256(picture)
    finally:
        hse.close()
