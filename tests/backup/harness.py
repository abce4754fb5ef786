"""A harness around one nvr-backup process, shared by the backup tests."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml

from nvr_camsim import CameraSimulator
from nvrtest import Child, query_state


class Backup(Child):
    """One nvr-backup process and the files it works on."""

    def __init__(self, root: Path, sim: CameraSimulator, cameras: list[str], **recording: Any):
        super().__init__(root, "backup")
        self.sim = sim
        self.recordings = root / "recordings"
        self.state_file = root / "state" / "state.db"
        self.config_path = root / "nvr.yaml"
        self.recordings.mkdir(parents=True, exist_ok=True)
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        self.recording: dict[str, Any] = {"segment_seconds": 10, **recording}
        self.storage: dict[str, Any] = {}
        self.urls: dict[str, str] = {}  # cameras not from the simulator
        self.camera_keys: dict[str, dict[str, Any]] = {}  # more keys of a camera's entry
        self.write_config(cameras)

    def write_config(self, cameras: list[str]) -> None:
        config = {
            "site": {"id": "test-01"},
            "storage": {
                "recordings_dir": str(self.recordings),
                "state_file": str(self.state_file),
                **self.storage,
            },
            "recording": self.recording,
            "cameras": [
                {
                    "id": cid,
                    "name": f"Camera {cid}",
                    "url": self.urls.get(cid) or self.sim.camera_url(cid),
                    **self.camera_keys.get(cid, {}),
                }
                for cid in cameras
            ],
        }
        self.config_path.write_text(yaml.safe_dump(config))

    def start(self, **env: str) -> None:
        """Start nvr-backup (extra environment in `env`, e.g. a faked clock)."""
        self.spawn(
            [sys.executable, "-m", "nvr.backup.main", "--config", str(self.config_path)], **env
        )

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        return query_state(self.state_file, sql, *params)

    def segments(self, camera: str) -> list[tuple[str, int, int, int]]:
        return [
            (r[0], r[1], r[2], r[3])
            for r in self.query(
                "SELECT path, start_ms, end_ms, bytes FROM segments WHERE camera = ?"
                " AND status = 'ok' ORDER BY start_ms",
                camera,
            )
        ]

    def heartbeat(self) -> dict[str, Any]:
        """The heartbeat of the running process (a killed predecessor's row does not count)."""
        rows = self.query(
            "SELECT status, detail_json, pid FROM heartbeats WHERE daemon = 'nvr-backup'"
        )
        if not rows or (self.proc is not None and rows[0][2] != self.proc.pid):
            return {}
        return {"status": rows[0][0], **json.loads(rows[0][1])}

    def camera_state(self, camera: str) -> dict[str, Any]:
        return dict(self.heartbeat().get("cameras", {}).get(camera, {}))

    def events(self, kind: str, camera: str | None = None) -> list[tuple[str, str]]:
        return [
            (r[0], r[1])
            for r in self.query(
                "SELECT severity, message FROM events WHERE kind = ?"
                " AND (? IS NULL OR camera = ?) ORDER BY id",
                kind,
                camera,
                camera,
            )
        ]
