"""Talking to the stream: ffprobe for its properties, ffmpeg for a few decoded frames.

Both run as children with a deadline and stop when the daemon stops. Their argv holds the
camera's password, so nothing from them reaches a message without `redact_text`.
"""

from __future__ import annotations

import json
import logging
import os
import resource
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import ffmpeg  # ffmpeg-python, to build the argv
import numpy as np
import numpy.typing as npt

from nvr.core.process import spawn
from nvr.core.redact import redact_text
from nvr.validator import constants as c
from nvr.validator.errors import NoFrames, ToolFailed, ToolTimedOut

log = logging.getLogger(__name__)

Frame = npt.NDArray[np.uint8]
# Runs argv with a timeout and returns its stdout; raises ToolFailed.
Runner = Callable[[list[str], float], bytes]


@dataclass(frozen=True)
class Sample:
    """The pictures one check judges.

    `frames`: keyframes (or frames at SAMPLE_FPS) spread over the sample, BGR. `run`:
    consecutive frames (every one, grey) from the start of the sample, when the source
    gives them cheaply (a recording); the frozen check reads the sensor's noise from them
    (invariant 14). Empty when the pictures come from the camera over RTSP.
    """

    frames: list[Frame]
    run: list[Frame] = field(default_factory=list)


@dataclass(frozen=True)
class StreamInfo:
    """The first video stream as ffprobe describes it."""

    codec: str
    width: int
    height: int
    fps: float | None
    bitrate: int | None


def children_cpu_seconds() -> float:
    """CPU seconds used by finished children of this process (ffprobe, ffmpeg)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class ToolRunner:
    """Runs ffprobe/ffmpeg: own session, stdin from /dev/null, deadline, stop event."""

    def __init__(self, stop: threading.Event | None = None) -> None:
        self._stop = stop or threading.Event()

    def __call__(self, argv: list[str], timeout: float) -> bytes:
        """Run `argv`; return its stdout or raise ToolFailed with a redacted reason."""
        proc = spawn(argv)
        waited = 0.0
        while True:
            try:
                out, err = proc.communicate(timeout=c.TOOL_POLL_SECONDS)
                break
            except subprocess.TimeoutExpired:
                waited += c.TOOL_POLL_SECONDS
                if self._stop.is_set():
                    self._halt(proc)
                    raise ToolFailed(f"{os.path.basename(argv[0])}: stopping") from None
                if waited >= timeout:
                    self._halt(proc)
                    raise ToolTimedOut(
                        f"{os.path.basename(argv[0])}: no answer in {timeout:g} s"
                    ) from None
        if proc.returncode != 0:
            raise ToolFailed(f"{os.path.basename(argv[0])}: {_tail(err)}")
        return out

    @staticmethod
    def _halt(proc: subprocess.Popen[bytes]) -> None:
        proc.terminate()
        try:
            proc.communicate(timeout=c.TOOL_KILL_WAIT_SECONDS)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()


def _tail(stderr: bytes) -> str:
    lines = stderr.decode("utf-8", "replace").strip().splitlines()
    text = " | ".join(lines[-c.STDERR_TAIL_LINES :]) or "failed without a message"
    return redact_text(text)


def _fps(text: str | None) -> float | None:
    num, _, den = (text or "").partition("/")
    try:
        value = float(num) / float(den or 1)
    except (ValueError, ZeroDivisionError):
        return None
    return round(value, 2) if value > 0 else None


def _is_rtsp(source: str) -> bool:
    return source.startswith(("rtsp://", "rtsps://"))


def probe_command(ffprobe: str, source: str, transport: str = "") -> list[str]:
    """The ffprobe argv printing the streams of `source` as JSON.

    `transport` (tcp/udp) is the recorder's for this camera (nvr.core.camera_media);
    without one, ffmpeg negotiates (UDP first, then TCP).
    """
    argv = [ffprobe, "-v", "error", "-print_format", "json", "-show_streams"]
    if _is_rtsp(source):
        argv += ["-analyzeduration", str(c.PROBE_ANALYZE_US)]
        if transport:
            argv += ["-rtsp_transport", transport]
    return [*argv, "-select_streams", "v:0", source]


def parse_probe(output: bytes) -> StreamInfo:
    """The first video stream of ffprobe's JSON; NoFrames when there is none."""
    streams: list[dict[str, Any]] = json.loads(output or b"{}").get("streams", [])
    video = [s for s in streams if s.get("codec_type") == "video"]
    if not video:
        raise NoFrames("the stream has no video track")
    stream = video[0]
    rate = stream.get("bit_rate")
    return StreamInfo(
        codec=str(stream.get("codec_name", "?")),
        width=int(stream.get("width") or 0),
        height=int(stream.get("height") or 0),
        fps=_fps(stream.get("avg_frame_rate")) or _fps(stream.get("r_frame_rate")),
        bitrate=int(str(rate)) if str(rate or "").isdigit() else None,
    )


def analysis_size(width: int, height: int) -> tuple[int, int]:
    """The scaled frame size: ANALYSIS_WIDTH wide, even height, aspect kept."""
    scaled = round(c.ANALYSIS_WIDTH * height / max(1, width) / 2) * 2
    return c.ANALYSIS_WIDTH, max(2, scaled)


def grab_command(
    ffmpeg_bin: str,
    source: str,
    size: tuple[int, int],
    seconds: float,
    keyframes_only: bool,
    start: float = 0.0,
    transport: str = "",
) -> list[str]:
    """The ffmpeg argv writing frames of `source` as raw BGR at `size` to stdout."""
    input_args: dict[str, Any] = {"t": seconds}
    if start:
        input_args["ss"] = start
    if _is_rtsp(source) and transport:
        input_args["rtsp_transport"] = transport
    if keyframes_only:
        input_args["skip_frame"] = "nokey"
    stream = ffmpeg.input(source, **input_args).video
    if not keyframes_only:
        stream = stream.filter("fps", c.SAMPLE_FPS)
    stream = stream.filter("scale", size[0], size[1])
    out = stream.output(
        "pipe:", format="rawvideo", pix_fmt="bgr24", frames=c.MAX_FRAMES, fps_mode="passthrough"
    )
    argv: list[str] = out.compile(cmd=ffmpeg_bin)
    return [argv[0], "-hide_banner", "-nostdin", "-loglevel", "error", *argv[1:]]


def split_frames(raw: bytes, size: tuple[int, int]) -> list[Frame]:
    """Cut ffmpeg's raw BGR output into frames; NoFrames when there is not one."""
    width, height = size
    frame_bytes = width * height * 3
    count = len(raw) // frame_bytes
    if count == 0:
        raise NoFrames("no picture decoded from the stream")
    data = np.frombuffer(raw[: count * frame_bytes], dtype=np.uint8)
    return list(data.reshape(count, height, width, 3))
