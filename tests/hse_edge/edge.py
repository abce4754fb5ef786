"""The box's config for the edge-side tests, and the fake HSE API's view of the box."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import yaml

from commands.centre import box_config
from minio_server import MinioServer
from mqtt_broker import MosquittoBroker
from nvr.core.state import StateStore
from uplink.receiver import Receiver

HSE_TOKEN = "hse-token-2b7e1d9c"
EDGE_ID = "edge-7f00"
EDGE_SECRET = "edge-secret-c41a9e27"
SEGMENT_S = 2
BEFORE_S = 4
AFTER_S = 6
# Heartbeat every HEARTBEAT_S; the fake centre marks the box offline after
# HEARTBEAT_TIMEOUT_S without one: the production ratio (40 s against the centre's 120 s).
HEARTBEAT_S = 2.0
HEARTBEAT_TIMEOUT_S = 3 * HEARTBEAT_S


def edge_config(
    root: Path,
    broker: MosquittoBroker,
    minio: MinioServer,
    cameras: list[dict[str, Any]],
    head_office_url: str,
    hse_url: str,
    **uplink: Any,
) -> Path:
    """box_config plus the HSE API, alarm clips, the heartbeat and 2 s segments."""
    path = box_config(
        root,
        broker,
        cameras=cameras,
        head_office_url=head_office_url,
        minio=minio.config_section(),
        recording={"segment_seconds": SEGMENT_S},
        report={"event_coalesce_seconds": 60},
    )
    (root / "hse.token").write_text(HSE_TOKEN + "\n")
    (root / "edge.secret").write_text(EDGE_SECRET + "\n")
    data = yaml.safe_load(path.read_text())
    data["uplink"].update(
        hse_api={"url": hse_url, "token_file": str(root / "hse.token")},
        event_clips={"before_seconds": BEFORE_S, "after_seconds": AFTER_S},
        heartbeat={"interval_seconds": HEARTBEAT_S},
        **uplink,
    )
    path.write_text(yaml.safe_dump(data))
    StateStore.open(root / "state.db").close()  # the schema exists before any daemon starts
    return path


def heartbeats(hse: Receiver) -> list[float]:
    """Arrival times (monotonic) of the heartbeats the fake HSE API took."""
    with hse.lock:
        return [
            r["at"] for r in hse.requests if r["path"].endswith("/heartbeat") and r["status"] == 200
        ]


def online(hse: Receiver, now: float | None = None) -> bool:
    """The centre's rule: offline once no heartbeat came for HEARTBEAT_TIMEOUT_S."""
    beats = heartbeats(hse)
    return bool(beats) and (now or time.monotonic()) - beats[-1] <= HEARTBEAT_TIMEOUT_S
