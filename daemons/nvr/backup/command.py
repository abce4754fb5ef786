"""The ffmpeg command line of one camera, built with ffmpeg-python (never a shell).

See docs/design/recording.md for why each option is there.
"""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import ffmpeg

from nvr.backup.liveshare import tee_output
from nvr.backup.paths import output_pattern
from nvr.core.config import AudioPolicy, CameraConfig, Container, RecordingConfig
from nvr.core.tools import ENV_OVERRIDES, require_tool

log = logging.getLogger(__name__)

# Fragmented MP4 that is playable up to the last complete fragment when ffmpeg or the box
# dies: an empty moov up front, a moof per keyframe, base offsets browsers and players accept.
FMP4_FLAGS = "movflags=+frag_keyframe+empty_moov+default_base_moof"
# Progress blocks (out_time_us=...) on stderr are how stalls are noticed and fps measured.
# Each block wakes one reader thread of nvr-backup: once a second per camera that was 1.5 %
# of recording's CPU floor (docs/design/recording.md, "CPU"), so a block comes every 5 s,
# or four times per stall_seconds when an operator set that shorter.
STATS_PERIOD_MAX_SECONDS = 5.0
STATS_PER_STALL = 4


def stats_period(recording: RecordingConfig) -> float:
    """Seconds between ffmpeg's progress blocks: rare, yet well inside the stall limit."""
    return min(STATS_PERIOD_MAX_SECONDS, recording.stall_seconds / STATS_PER_STALL)


def recording_ffmpeg() -> str:
    """The ffmpeg that records: the recording-only build when there is one, else ffmpeg.

    ffmpeg-rec is Debian's ffmpeg source built with only what recording uses, its libraries
    linked in: 4.2 MB private memory per camera instead of 12.5 MB, the same version and
    argv (docs/design/recording.md, Numbers). A path set in its variable must be valid.
    """
    if os.environ.get(ENV_OVERRIDES["ffmpeg-rec"]) or shutil.which("ffmpeg-rec"):
        return require_tool("ffmpeg-rec")
    found = require_tool("ffmpeg")
    log.info("ffmpeg-rec not installed: recording with %s (about 8 MB more per camera)", found)
    return found


class AudioMode:
    """How this run treats audio; a camera falls back after its audio was refused once."""

    COPY = "copy"
    TRANSCODE = "transcode"
    DROP = "drop"


def audio_mode(policy: AudioPolicy, container_refused_copy: bool) -> str:
    """Copy first; after the container refused the codec, apply the configured policy."""
    if not container_refused_copy:
        return AudioMode.COPY
    return AudioMode.TRANSCODE if policy is AudioPolicy.TRANSCODE else AudioMode.DROP


@dataclass(frozen=True)
class RecordCommand:
    """The argv plus what the supervisor needs to know about it."""

    argv: list[str]
    audio: str


def build_command(
    ffmpeg_bin: str,
    camera: CameraConfig,
    recording: RecordingConfig,
    recordings_dir: Path,
    audio: str,
    run: str,
    transport: str,
    live_url: str | None = None,
) -> RecordCommand:
    """Assemble the recording command of one camera.

    `run` makes its file names unique; `transport` is tcp or udp. With `live_url` (a
    single-session camera), the same session also feeds live view through the tee muxer
    (backup/liveshare.py).
    """
    source = ffmpeg.input(
        # Credentials percent-encoded once (SecretUrl); ffmpeg decodes them itself.
        camera.url.reveal(),
        rtsp_transport=transport,
        timeout=int(recording.socket_timeout_seconds * 1_000_000),  # microseconds
    )
    streams = [source["v"]] if audio == AudioMode.DROP else [source["v"], source["a?"]]
    output_args: dict[str, object] = {
        "f": "segment",
        "vcodec": "copy",
        "segment_time": recording.segment_seconds,
        "segment_atclocktime": 1,  # cut on wall-clock multiples: 08:00:00, 08:01:00, ...
        "reset_timestamps": 1,  # each file starts at t=0 and plays on its own
        "segment_list": "pipe:1",  # "name,start,end" per closed segment, on stdout
        "segment_list_type": "csv",
    }
    if audio == AudioMode.COPY:
        output_args["acodec"] = "copy"
    elif audio == AudioMode.TRANSCODE:
        output_args["acodec"] = "aac"
    if recording.container is Container.FMP4:
        output_args["segment_format"] = "mp4"
        output_args["segment_format_options"] = FMP4_FLAGS
    else:
        output_args["segment_format"] = "mpegts"
    target = output_pattern(recordings_dir, camera.id, recording.container, run)
    if live_url is not None:
        target, output_args = tee_output(output_args, target, live_url)
    compiled = ffmpeg.output(*streams, target, **output_args).compile(cmd=ffmpeg_bin)
    global_args = [
        "-hide_banner",
        "-nostdin",
        "-loglevel",
        "warning",
        "-stats_period",
        f"{stats_period(recording):g}",
        "-progress",
        "pipe:2",
    ]
    return RecordCommand(argv=[compiled[0], *global_args, *compiled[1:]], audio=audio)
