"""Exporting a time range of a camera as one file, by stream copy (no re-encoding).

Used by `nvrctl export` and by clip requests from head office (`request_clip`). The concat demuxer
joins the segments with continuous timestamps; the cut is at keyframes around the range.
"""

from __future__ import annotations

import logging
import os
import subprocess
import tempfile
import threading
from pathlib import Path

from nvr.core.errors import NvrError
from nvr.core.recordings import CONTINUITY_TOLERANCE_MS, Segment
from nvr.core.tools import require_tool

log = logging.getLogger(__name__)

EXPORT_TIMEOUT_SECONDS = 600
# A background export runs at the lowest CPU priority, so recording (nvr-backup's ffmpeg)
# always goes first. Under systemd the unit's Nice=/CPUWeight=/IOWeight= already apply and
# its seccomp filter refuses setpriority: nice then warns and runs ffmpeg as it is. No
# ionice: it refuses to run the command at all when ioprio_set is refused.
LOW_PRIORITY_PREFIX = ("nice", "-n", "19")
# One export at a time per process: alarm clips and requested clips never run two ffmpeg
# reading the recordings disk side by side (docs/design/hse-edge.md, invariant 4).
_ONE_AT_A_TIME = threading.Lock()


class ExportError(NvrError):
    """An export could not be produced."""


def _concat_list(recordings_dir: Path, segments: list[Segment], from_ms: int) -> tuple[str, int]:
    lines = ["ffconcat version 1.0"]
    for seg in segments:
        path = str(recordings_dir / seg.path).replace("'", "'\\''")
        lines.append(f"file '{path}'")
    offset_ms = max(0, from_ms - segments[0].start_ms)
    return "\n".join(lines) + "\n", offset_ms


def recorded_ms(segments: list[Segment], from_ms: int, to_ms: int) -> int:
    """Milliseconds of video the segments hold inside [from_ms, to_ms).

    The concat demuxer joins the segments without their gaps, so the clip must be this
    long, not `to_ms - from_ms`: across a gap that would run past `to_ms`.
    """
    return sum(max(0, min(s.end_ms, to_ms) - max(s.start_ms, from_ms)) for s in segments)


def continuous_runs(segments: list[Segment]) -> list[list[Segment]]:
    """The segments split where one ends more than the continuity tolerance before the next."""
    runs: list[list[Segment]] = []
    for seg in segments:
        if runs and seg.start_ms - runs[-1][-1].end_ms <= CONTINUITY_TOLERANCE_MS:
            runs[-1].append(seg)
        else:
            runs.append([seg])
    return runs


def export_clip(
    recordings_dir: Path,
    segments: list[Segment],
    from_ms: int,
    to_ms: int,
    output: Path,
    *,
    low_priority: bool = False,
) -> Path:
    """Join `segments` into `output` (MP4), trimmed to [from_ms, to_ms) at keyframes.

    `low_priority`: run ffmpeg under `nice -n 19` (background work beside recording).
    """
    if not segments:
        raise ExportError("no recordings in the requested range")
    missing = [s.path for s in segments if not (recordings_dir / s.path).exists()]
    if missing:
        raise ExportError(f"segment file missing: {recordings_dir / missing[0]}")
    listing, offset_ms = _concat_list(recordings_dir, segments, from_ms)
    duration_ms = recorded_ms(segments, from_ms, to_ms)
    with tempfile.NamedTemporaryFile("w", suffix=".ffconcat", delete=False) as handle:
        handle.write(listing)
        list_path = handle.name
    tmp_output = output.with_name(f".{output.name}.part")
    argv = [
        require_tool("ffmpeg"), "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
        "-f", "concat", "-safe", "0", "-ss", f"{offset_ms / 1000:.3f}", "-i", list_path,
        "-t", f"{duration_ms / 1000:.3f}", "-map", "0", "-c", "copy",
        "-movflags", "+faststart", "-f", "mp4", str(tmp_output),
    ]  # fmt: skip
    if low_priority:
        argv = [*LOW_PRIORITY_PREFIX, *argv]
    try:
        with _ONE_AT_A_TIME:
            result = subprocess.run(
                argv, capture_output=True, text=True, timeout=EXPORT_TIMEOUT_SECONDS, check=False
            )
    finally:
        os.unlink(list_path)
    if result.returncode != 0:
        tmp_output.unlink(missing_ok=True)
        last = (result.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise ExportError(f"ffmpeg could not export to {output}: {last}")
    tmp_output.replace(output)
    return output
