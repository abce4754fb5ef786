"""A box for the evidence tests: config, state file, and segments indexed as nvr-backup does.

Rows are inserted with the recorder's own chain rule (`chain_tip` + `chain_hash`), so the
chain under test is the one the product writes; the janitor and nvrctl are the real ones.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from nvr.core.chain import chain_tip
from nvr.core.state import StateStore, now_ms
from nvr.core.tables.recordings import chain_hash
from nvr.core.tools import require_tool
from nvrtest import run_nvrctl

HEADOFFICE = str(Path(sys.executable).with_name("nvr-headoffice"))
SEGMENT_SECONDS = 4


@dataclass
class Box:
    """One site's config file, recordings directory and state file."""

    root: Path
    site: str = "smg-01"

    def __post_init__(self) -> None:
        self.recordings = self.root / "recordings"
        self.recordings.mkdir(parents=True, exist_ok=True)
        (self.root / "state").mkdir(exist_ok=True)
        self.config_path = self.root / "nvr.yaml"
        config: dict[str, Any] = {
            "site": {"id": self.site, "name": "Evidence test"},
            "storage": {
                "recordings_dir": str(self.recordings),
                "state_file": str(self.root / "state" / "state.db"),
            },
            "cameras": [{"id": "cam01", "name": "Gate", "url": "rtsp://127.0.0.1:8554/cam01"}],
        }
        self.config_path.write_text(yaml.safe_dump(config))
        self.store = StateStore.open(self.root / "state" / "state.db")

    def add(
        self, start_ms: int, content: bytes, duration_ms: int = 60_000, status: str = "ok"
    ) -> tuple[int, str]:
        """Write a segment file and index it; a quarantined row gets no chain link."""
        start = datetime.fromtimestamp(start_ms / 1000, UTC)
        path = f"cam01/{start:%Y-%m-%d}/{start:%H-%M-%S}.mp4"
        (self.recordings / path).parent.mkdir(parents=True, exist_ok=True)
        (self.recordings / path).write_bytes(content)
        sha = hashlib.sha256(content).hexdigest()
        with self.store.write() as conn:
            chain = chain_hash(chain_tip(conn, "cam01"), sha) if status == "ok" else None
            end = start_ms + duration_ms if status == "ok" else start_ms
            conn.execute(
                "INSERT INTO segments (camera, path, start_ms, end_ms, bytes, sha256,"
                " chain_sha256, status, created_at_ms) VALUES ('cam01', ?, ?, ?, ?, ?, ?, ?, ?)",
                (path, start_ms, end, len(content), sha, chain, status, now_ms()),
            )
            row = conn.execute("SELECT id FROM segments WHERE path = ?", (path,)).fetchone()
        return int(row[0]), path

    def nvrctl(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run the real nvrctl against this box's config."""
        return run_nvrctl(self.config_path, *args)


def make_segments(directory: Path, count: int) -> list[Path]:
    """`count` playable fMP4 segments of SEGMENT_SECONDS each, cut by ffmpeg's segment muxer."""
    directory.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [require_tool("ffmpeg"), "-hide_banner", "-nostdin", "-loglevel", "error",
         "-f", "lavfi", "-i", f"testsrc2=size=320x240:rate=10:duration={count * SEGMENT_SECONDS}",
         "-c:v", "libx264", "-preset", "ultrafast", "-g", "10", "-pix_fmt", "yuv420p",
         "-f", "segment", "-segment_time", str(SEGMENT_SECONDS), "-reset_timestamps", "1",
         "-segment_format", "mp4", "-segment_format_options",
         "movflags=+frag_keyframe+empty_moov+default_base_moof",
         str(directory / "seg%03d.mp4")],
        check=True,
    )  # fmt: skip
    return sorted(directory.glob("seg*.mp4"))
