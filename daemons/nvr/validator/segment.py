"""Reading a recorded segment in-process: its stream properties and its last pictures.

A check from a recording needs no network and no child: PyAV (FFmpeg's libraries) opens
the file, says codec, size and frame rate, seeks to the last `sample_seconds` and decodes
keyframes only, except in the GOP it lands in: that one is decoded whole and its last
RUN_FRAMES frames are the run the frozen check reads (invariant 14). A learned camera is
read in two parts, keyframes first and the run only when it matters (invariant 16). Two
ffmpeg/ffprobe children per camera cost ~0.13 CPU-s, mostly their start-up; this costs
~0.01 plus the frames decoded (tests/bench/results/validator.md).

Recorded segments are evidence: the file is opened read-only and never written.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import deque
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import TypeVar

import av
import numpy as np

from nvr.validator import constants as c
from nvr.validator.errors import NoFrames, ToolFailed, ToolTimedOut
from nvr.validator.media import Sample, StreamInfo, analysis_size

log = logging.getLogger(__name__)

T = TypeVar("T")

# Opening a file probes its streams, and FFmpeg's probe decodes the first picture to learn
# its pixel format: ~0.04 CPU-s for a 1080p keyframe, a fifth of a check, for a value no
# check reads (size, codec and rate come from the headers). The option reaches only the
# probe's own decoder, not the one that decodes the sample.
_PROBE_WITHOUT_DECODING = {"skip_frame": "all"}


class Part(Enum):
    """What of the window to decode, with `keyframes_only` (invariant 16)."""

    WHOLE = "keyframes and the run"
    KEYFRAMES = "keyframes"  # the run's GOP costs more than the keyframes at 1080p
    RUN = "the run"  # and the first keyframe; for a check whose keyframes are read


def read_segment(
    path: Path, seconds: float, keyframes_only: bool, timeout: float, part: Part = Part.WHOLE
) -> tuple[StreamInfo, Sample]:
    """The segment's video properties and up to MAX_FRAMES pictures of its last seconds.

    ToolTimedOut past `timeout` (a stalled disk or a starved box), ToolFailed for a file
    FFmpeg cannot read, NoFrames when nothing decodes.
    """
    return _within(timeout, lambda: _read(path, seconds, keyframes_only, part))


def _within(timeout: float, work: Callable[[], T]) -> T:
    """Run `work` with a deadline.

    A read blocked in the kernel cannot be interrupted, so the thread is left to finish on
    its own (a daemon thread: it never holds up a stop).
    """
    done: queue.Queue[tuple[bool, object]] = queue.Queue(1)

    def run() -> None:
        try:
            done.put((True, work()))
        except Exception as err:  # handed to the caller, who knows what it means
            done.put((False, err))

    threading.Thread(target=run, name="segment-read", daemon=True).start()
    try:
        ok, value = done.get(timeout=timeout)
    except queue.Empty:
        raise ToolTimedOut(f"reading the segment: no answer in {timeout:g} s") from None
    if not ok:
        assert isinstance(value, Exception)
        raise value
    return value  # type: ignore[return-value]  # the value `work` returned


def _read(
    path: Path, seconds: float, keyframes_only: bool, part: Part
) -> tuple[StreamInfo, Sample]:
    try:
        with av.open(str(path), mode="r", options=_PROBE_WITHOUT_DECODING) as container:
            if not container.streams.video:
                raise NoFrames("the recording has no video track")
            stream = container.streams.video[0]
            info = _info(container, stream)
            sample = _last_frames(container, stream, info, seconds, keyframes_only, part)
    except av.FFmpegError as err:
        raise ToolFailed(f"segment unreadable: {err}") from err
    if not sample.frames:
        raise NoFrames("no picture decoded from the recording")
    return info, sample


def _info(container: av.container.InputContainer, stream: av.VideoStream) -> StreamInfo:
    codec = stream.codec_context
    rate = stream.average_rate or stream.guessed_rate
    fps = round(float(rate), 2) if rate else None
    bitrate = codec.bit_rate or container.bit_rate or None
    return StreamInfo(codec.name, codec.width, codec.height, fps, bitrate)


def _seek_window(container: av.container.InputContainer, seconds: float) -> None:
    """Seek to `seconds` before the end; lands on the keyframe before that point."""
    duration = container.duration / av.time_base if container.duration else None
    if duration is not None and duration > seconds:
        container.seek(int((duration - seconds) * av.time_base))


def _last_frames(
    container: av.container.InputContainer,
    stream: av.VideoStream,
    info: StreamInfo,
    seconds: float,
    keyframes_only: bool,
    part: Part,
) -> Sample:
    """Decode from `seconds` before the end; keep the newest pictures of that window.

    The first GOP is decoded whole and its last RUN_FRAMES frames are the run; from the
    second keyframe on, with `keyframes_only`, the decoder skips every other frame.
    `part` KEYFRAMES skips the run, RUN stops after it (invariant 16).
    """
    _seek_window(container, seconds)
    step = 0.0 if keyframes_only else 1.0 / c.SAMPLE_FPS
    if keyframes_only and part is Part.KEYFRAMES:
        stream.codec_context.skip_frame = "NONKEY"
    kept: deque[tuple[float, av.VideoFrame]] = deque(maxlen=c.MAX_FRAMES)
    run: deque[av.VideoFrame] = deque(maxlen=c.RUN_FRAMES)
    keys = 0
    for frame in container.decode(stream):
        keys += frame.key_frame
        if keys == 1 and not frame.key_frame:
            run.append(frame)
        elif keys == 2 and frame.key_frame and keyframes_only:
            if part is Part.RUN:
                break
            stream.codec_context.skip_frame = "NONKEY"  # the run is complete
        if keyframes_only and not frame.key_frame:
            continue
        at = float(frame.time or 0.0)
        if not kept or at - kept[-1][0] >= step:
            kept.append((at, frame))
    if not kept:
        return Sample([])
    newest = kept[-1][0]
    window = [f for at, f in kept if at >= newest - seconds]
    if len(window) < c.MIN_FRAMES_FOR_FREEZE:
        # A GOP longer than half the window leaves one keyframe in it: the one before
        # (decoded anyway, the seek landed on it) lets the frozen check still compare.
        window = [f for _, f in kept][-c.MIN_FRAMES_FOR_FREEZE :]
    width, height = analysis_size(info.width, info.height)
    return Sample(
        [
            np.ascontiguousarray(f.to_ndarray(width=width, height=height, format="bgr24"))
            for f in window
        ],
        [
            np.ascontiguousarray(f.to_ndarray(width=width, height=height, format="gray"))
            for f in run
        ],
    )
