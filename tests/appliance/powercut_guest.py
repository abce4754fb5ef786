"""Run inside the VM (with /opt/nvr/venv/bin/python) after a boot: what the box says now.

    python powercut_guest.py STATE_DB RECORDINGS_DIR SINCE_MS

Prints one JSON object: the state file's integrity check, every `ok` segment checked
against its SHA-256, files on disk without a row, the segments at the power-loss boundary
probed with ffprobe (the partial segment of each camera must play or be quarantined), the
runs and coverage gaps since SINCE_MS, and the outbox's seqs. Read-only: it never writes
to the state file or the recordings. Copied into the guest by tests/appliance/powercut.py.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from nvr.core.tables.recordings import coverage, file_sha256

# Segments per camera probed at each boundary between two runs (the last one is the
# partial segment a power cut leaves behind).
BOUNDARY_SEGMENTS = 2


def playable(path: Path) -> bool:
    """ffprobe reads at least one video packet from the file."""
    result = subprocess.run(
        [
            "ffprobe", "-v", "error", "-select_streams", "v:0", "-count_packets",
            "-show_entries", "stream=nb_read_packets", "-of", "csv=p=0", str(path),
        ],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    packets = result.stdout.strip().split(",")[0]
    return result.returncode == 0 and packets.isdigit() and int(packets) > 0


def check_segments(conn: sqlite3.Connection, recordings: Path) -> dict[str, Any]:
    rows = conn.execute("SELECT camera, path, status, sha256 FROM segments ORDER BY id").fetchall()
    counts: dict[str, int] = {}
    ok_bad = []
    ok_sha = {}
    for _camera, path, status, sha in rows:
        counts[status] = counts.get(status, 0) + 1
        if status != "ok":
            continue
        file = recordings / path
        ok_sha[path] = sha
        if not file.exists():
            ok_bad.append({"path": path, "problem": "file missing"})
        elif file_sha256(file) != sha:
            ok_bad.append({"path": path, "problem": "sha256 differs"})
    indexed = {path for _c, path, _s, _h in rows}
    # Dated names and the staging directory (<camera>/.incoming/) alike, with their mtime:
    # a staged file is either the segment being written now or a leftover the boot's
    # reconcile should have indexed (the host tells them apart by the time of the boot).
    on_disk = {
        str(f.relative_to(recordings)): f.stat().st_mtime_ns // 1_000_000
        for f in sorted(recordings.glob("*/*/*"))
        if f.is_file()
    }
    return {
        "counts": counts,
        "ok_bad": ok_bad,
        "ok_sha256": ok_sha,
        "missing": [path for _c, path, status, _h in rows if status == "missing"],
        "unindexed_files": {p: mtime for p, mtime in on_disk.items() if p not in indexed},
    }


def boundary_segments(
    conn: sqlite3.Connection, recordings: Path, since_ms: int
) -> list[dict[str, Any]]:
    """The last segments of each run that ended since since_ms, probed with ffprobe."""
    checked = []
    runs = conn.execute(
        "SELECT camera, started_at_ms, ended_at_ms FROM recording_runs"
        " WHERE ended_at_ms IS NOT NULL AND ended_at_ms >= ?",
        (since_ms,),
    ).fetchall()
    for camera, started, ended in runs:
        rows = conn.execute(
            "SELECT path, status, bytes, start_ms, end_ms FROM segments WHERE camera = ?"
            " AND start_ms >= ?"
            " AND start_ms <= ? ORDER BY start_ms DESC LIMIT ?",
            (camera, started - 2000, ended, BOUNDARY_SEGMENTS),
        ).fetchall()
        for path, status, size, start_ms, end_ms in rows:
            file = recordings / path
            checked.append(
                {
                    "path": path,
                    "status": status,
                    "bytes": size,
                    "start_ms": start_ms,
                    "end_ms": end_ms,
                    "playable": file.exists() and playable(file),
                }
            )
    return checked


def runs_and_gaps(conn: sqlite3.Connection, since_ms: int) -> dict[str, Any]:
    now = int(time.time() * 1000)
    runs = conn.execute(
        "SELECT camera, started_at_ms, ended_at_ms, end_reason FROM recording_runs"
        " WHERE coalesce(ended_at_ms, started_at_ms) >= ? OR ended_at_ms IS NULL ORDER BY id",
        (since_ms,),
    ).fetchall()
    cameras = sorted({r[0] for r in runs})
    first_after = {
        camera: conn.execute(
            "SELECT min(start_ms) FROM segments WHERE camera = ? AND start_ms >= ?",
            (camera, since_ms),
        ).fetchone()[0]
        for camera in cameras
    }
    gaps = {
        camera: [
            {"from_ms": g.start_ms, "to_ms": g.end_ms, "reason": g.reason}
            for g in coverage(conn, camera, since_ms, now).gaps
        ]
        for camera in cameras
    }
    return {
        "now_ms": now,
        "runs": [list(r) for r in runs],
        "first_segment_start_ms": first_after,
        "gaps": gaps,
    }


def main() -> int:
    state, recordings, since_ms = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
    conn = sqlite3.connect(f"file:{state}?mode=ro", uri=True, timeout=30)
    conn.execute("PRAGMA busy_timeout = 30000")
    result = {
        "integrity": conn.execute("PRAGMA integrity_check").fetchone()[0],
        "segments": check_segments(conn, recordings),
        "boundary": boundary_segments(conn, recordings, since_ms),
        "outbox_seqs": [r[0] for r in conn.execute("SELECT seq FROM outbox ORDER BY seq")],
        "last_seq": (conn.execute("SELECT max(last_seq) FROM outbox_seq").fetchone() or [None])[0],
        **runs_and_gaps(conn, since_ms),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
