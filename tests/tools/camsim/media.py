"""Reading the simulated cameras the way a user (or the NVR) would: ffprobe and ffmpeg."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass

import cv2
import numpy as np

from nvr.core.tools import require_tool
from nvr_camsim import Region

READ_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Probe:
    """What ffprobe says about a stream, or why it failed."""

    ok: bool
    codec: str = ""
    width: int = 0
    height: int = 0
    fps: float = 0.0
    error: str = ""


def probe(url: str) -> Probe:
    """ffprobe the first video stream of `url` over RTSP/TCP."""
    argv = [
        require_tool("ffprobe"), "-v", "error", "-rtsp_transport", "tcp",
        "-select_streams", "v:0", "-show_entries", "stream=codec_name,width,height,r_frame_rate",
        "-of", "json", url,
    ]  # fmt: skip
    result = subprocess.run(argv, capture_output=True, text=True, timeout=READ_TIMEOUT_S)
    if result.returncode != 0:
        return Probe(ok=False, error=result.stderr.strip())
    streams = json.loads(result.stdout).get("streams") or [{}]
    stream = streams[0]
    num, _, den = str(stream.get("r_frame_rate", "0/1")).partition("/")
    return Probe(
        ok=True,
        codec=stream.get("codec_name", ""),
        width=int(stream.get("width", 0)),
        height=int(stream.get("height", 0)),
        fps=float(num) / float(den or 1),
    )


def grab_frames(url: str, width: int, height: int, indexes: list[int]) -> list[np.ndarray]:
    """Decode the frames with these indexes (25 per second) as grey images, full range.

    Counting starts at the first decodable frame: ffmpeg's H.264 decoder outputs nothing
    before the first keyframe, so no half-decoded picture gets in.
    """
    select = "+".join(f"eq(n\\,{i})" for i in indexes)
    argv = [
        require_tool("ffmpeg"), "-v", "error", "-nostdin", "-rtsp_transport", "tcp", "-i", url,
        "-an", "-vf", f"select={select}", "-fps_mode", "passthrough",
        "-frames:v", str(len(indexes)), "-pix_fmt", "bgr24", "-f", "rawvideo", "-",
    ]  # fmt: skip
    result = subprocess.run(argv, capture_output=True, timeout=READ_TIMEOUT_S)
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    size = width * height * 3
    data = result.stdout
    assert len(data) == size * len(indexes), f"got {len(data)} bytes, wanted {len(indexes)} frames"
    frames = np.frombuffer(data, np.uint8).reshape(len(indexes), height, width, 3)
    return [cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) for frame in frames]


def outside(region: Region, frame: np.ndarray) -> np.ndarray:
    """A boolean mask of the pixels outside `region`."""
    mask = np.ones(frame.shape, dtype=bool)
    mask[region.y : region.y + region.height, region.x : region.x + region.width] = False
    return mask


def sharpness(frame: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Variance of the Laplacian (the usual blur measure), optionally within `mask`."""
    lap = cv2.Laplacian(frame, cv2.CV_64F)
    return float(lap[mask].var() if mask is not None else lap.var())
