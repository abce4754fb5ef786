"""Alarm clips and the heartbeat end to end: simulated cameras recorded by nvr-backup, nvr-report,
nvr-uplink with a real MinIO, a fake HSE API and head office.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from minio_server import MinioServer
from mqtt_broker import MosquittoBroker
from nvr.camsim import CameraSimulator
from nvr.core.events import Severity, record_event
from nvr.core.state import StateStore
from nvr.core.tools import require_tool
from nvrtest import query_state, wait_until
from uplink.helpers import Process
from uplink.receiver import Receiver

from .edge import (
    AFTER_S,
    BEFORE_S,
    HEARTBEAT_TIMEOUT_S,
    SEGMENT_S,
    edge_config,
    heartbeats,
    online,
)

pytestmark = pytest.mark.timeout(240)

SITE = "test-01"


def recorded_seconds(state_file: Path, camera: str) -> float:
    rows = query_state(
        state_file, "SELECT min(start_ms), max(end_ms) FROM segments WHERE camera = ?", camera
    )
    if not rows or rows[0][0] is None:
        return 0.0
    return float((rows[0][1] - rows[0][0]) / 1000)


def raise_alarm(state_file: Path, camera: str) -> tuple[int, int]:
    """A critical event of `camera`, written the way the ingest API does; (id, time in ms)."""
    with StateStore.open(state_file) as store:
        event_id = record_event(
            store,
            source="nvr-hse",
            severity=Severity.CRITICAL,
            kind="external_alarm",
            camera=camera,
            message=f"camera={camera} NoHelmet reported by the site's AI box",
            data={"alarm_type": "NoHelmet", "details": {"zone": "B"}},
        )
    ((at_ms,),) = query_state(state_file, "SELECT created_at_ms FROM events WHERE id = ?", event_id)
    return event_id, int(at_ms)


def follow_up(state_file: Path, alarm_id: int) -> dict[str, Any] | None:
    for (data,) in query_state(
        state_file, "SELECT data_json FROM events WHERE kind = 'alarm_clip'"
    ):
        parsed: dict[str, Any] = json.loads(data)
        if parsed["alarm_event_id"] == alarm_id:
            return parsed
    return None


def duration(path: Path) -> float:
    out = subprocess.run(
        [require_tool("ffprobe"), "-v", "error", "-show_entries", "format=duration",
         "-of", "csv=p=0", str(path)],
        capture_output=True, text=True, timeout=30, check=True,
    ).stdout  # fmt: skip
    return float(out.strip())


def test_alarm_clip_survives_kill_and_heartbeat_keeps_the_box_online(
    tmp_path: Path,
    sim: CameraSimulator,
    broker: MosquittoBroker,
    minio: MinioServer,
    head_office: Receiver,
    hse: Receiver,
    processes: list[Process],
) -> None:
    cameras = [{"id": c, "name": f"Camera {c}", "url": sim.camera_url(c)} for c in ("cam01",)]
    config = edge_config(tmp_path, broker, minio, cameras, head_office.url, hse.url)
    state_file = tmp_path / "state.db"
    processes.append(Process("nvr.backup.main", config))
    processes.append(Process("nvr.report.main", config))
    uplink = Process("nvr.uplink.main", config)
    processes.append(uplink)
    wait_until(
        lambda: query_state(state_file, "SELECT 1 FROM report_state WHERE key = 'events_cursor'"),
        30,
        "nvr-report started",
    )
    wait_until(lambda: recorded_seconds(state_file, "cam01") >= BEFORE_S, 60, "cam01 recorded")

    # An alarm: its range is protected at once and its clip waits for the video after it.
    alarm_id, alarm_ms = raise_alarm(state_file, "cam01")
    wait_until(
        lambda: query_state(
            state_file, "SELECT state FROM alarm_clips WHERE event_id = ?", alarm_id
        ),
        30,
        "the alarm clip queued",
    )
    ((camera, p_from, p_to, reason),) = query_state(
        state_file, "SELECT camera, from_ms, to_ms, reason FROM protections"
    )
    assert (camera, p_from, p_to) == (
        "cam01",
        alarm_ms - BEFORE_S * 1000,
        alarm_ms + AFTER_S * 1000,
    )
    assert f"event {alarm_id}" in reason

    # nvr-uplink dies while the clip is pending; the next process makes it.
    uplink.kill()
    assert query_state(state_file, "SELECT state FROM alarm_clips")[0][0] == "waiting"
    uplink = Process("nvr.uplink.main", config)
    processes.append(uplink)
    restarted = time.monotonic()
    data = wait_until(lambda: follow_up(state_file, alarm_id), 90, "the alarm_clip follow-up")

    # In MinIO's recordings bucket under the documented key, with the hash in the state.
    bucket, key = data["clip_path"].split("/", 1)
    assert bucket == "recordings" and data["minio_file_path"] == data["clip_path"]
    assert key == f"{key[:10]}/{SITE}/cam01/{data['file_name']}"
    assert data["file_name"].startswith("alarm-") and data["file_name"].endswith(f"-{alarm_id}.mp4")
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(minio.client().get_object(bucket, key).read())
    sha256 = hashlib.sha256(clip.read_bytes()).hexdigest()
    assert sha256 == data["sha256"]
    assert query_state(
        state_file, "SELECT state, sha256 FROM alarm_clips WHERE event_id = ?", alarm_id
    ) == [("done", sha256)]
    assert query_state(
        state_file, "SELECT state, sha256 FROM uploads WHERE object_key = ?", key
    ) == [("done", sha256)]
    # N + M seconds, within a GOP (1 s) and a segment of slack (stream copy cuts at keyframes).
    assert abs(duration(clip) - (BEFORE_S + AFTER_S)) <= SEGMENT_S + 1
    assert data["protection_id"] == 1 and data["missing"] == []  # recording went on

    # The HSE API got the alarm (with its event id) and then its clip as a follow-up.
    wait_until(lambda: hse.hse["alarm-clips"], 30, "the clip follow-up at the HSE API")
    (sent,) = hse.hse["alarm-clips"]
    assert sent["alarm_event_id"] == alarm_id and sent["clip_path"] == data["clip_path"]
    assert [a.get("event_id") for a in hse.hse["alarms"]] == [alarm_id]

    # Head office: the alarm report, then the follow-up event report (not coalesced away).
    def kinds() -> list[tuple[str, Any]]:
        with head_office.lock:
            return [(e["kind"], e["body"]["event"]) for e in head_office.reports.values()
                    if e["kind"] in ("alarm", "event")]  # fmt: skip

    wait_until(lambda: ("event", "alarm_clip") in kinds(), 30, "the follow-up at head office")
    assert ("alarm", "external_alarm") in kinds()

    # Heartbeats: the running box was never offline in the centre's eyes since the restart;
    # once nvr-uplink stops, the centre marks it offline within the timeout.
    def since_restart() -> list[float]:
        return [at for at in heartbeats(hse) if at >= restarted]

    wait_until(lambda: len(since_restart()) >= 3, 30, "heartbeats of the new process")
    beats = since_restart()
    gaps = [b - a for a, b in itertools.pairwise(beats)]
    assert max(gaps) < HEARTBEAT_TIMEOUT_S, gaps
    assert online(hse)
    # Cheap on the WAN: a few hundred bytes of JSON.
    with hse.lock:
        bodies = [{k: v for k, v in b.items() if k != "_key"} for b in hse.hse["heartbeat"]]
    sizes = [len(json.dumps(b, separators=(",", ":"))) for b in bodies if "beat" in b]
    assert sizes and max(sizes) < 400, sizes
    assert uplink.stop() == 0
    stopped = time.monotonic()
    wait_until(lambda: not online(hse), HEARTBEAT_TIMEOUT_S + 10, "the box marked offline")
    assert time.monotonic() - stopped <= HEARTBEAT_TIMEOUT_S + 1
