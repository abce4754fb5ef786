"""Turning how an ffmpeg run ended into a reason a technician understands."""

from __future__ import annotations

import re

from nvr.core.rtsp import ProbeResult
from nvr.core.tables.recordings import EndReason

# ffmpeg's words when a camera will not send RTP the way ffmpeg asked (TCP to a UDP-only one).
_TRANSPORT_REFUSED = ("461 unsupported transport",)

# Substrings of ffmpeg's messages, most specific first.
_PATTERNS: tuple[tuple[tuple[str, ...], EndReason], ...] = (
    (("401 unauthorized", "403 forbidden"), EndReason.AUTH_FAILED),
    (_TRANSPORT_REFUSED, EndReason.TRANSPORT_REFUSED),
    (("no space left on device",), EndReason.DISK_FULL),
    (("read-only file system",), EndReason.DISK_READ_ONLY),
    (("404 not found",), EndReason.NOT_FOUND),
    (
        (
            "connection refused",
            "connection timed out",
            "timed out",
            "no route to host",
            "network is unreachable",
            "connection reset",
            "end of file",
            "broken pipe",
            "host is down",
        ),
        EndReason.CAMERA_OFFLINE,
    ),
)

# ffmpeg's words when the container cannot hold the camera's audio codec (G.711 in MP4).
_AUDIO_REFUSED = (
    "not currently supported in container",
    "could not find tag for codec",
    "codec not currently supported",
)
# "[mp4 @ 0x1] Could not find tag for codec pcm_mulaw in stream #1, codec not currently ..."
_REFUSED_CODEC = re.compile(r"codec (\w+) in stream", re.IGNORECASE)
UNKNOWN_CODEC = "unknown"

PROBE_REASONS = {
    ProbeResult.OFFLINE: EndReason.CAMERA_OFFLINE,
    ProbeResult.AUTH_FAILED: EndReason.AUTH_FAILED,
    ProbeResult.NOT_FOUND: EndReason.NOT_FOUND,
    ProbeResult.ERROR: EndReason.FFMPEG_ERROR,
}


def classify_exit(lines: list[str], was_recording: bool) -> EndReason:
    """The reason an ffmpeg run ended, from its last stderr lines.

    A stream that was recording and then disappears (404 from a proxy, end of file) is a
    camera that went offline; a path that never worked and answers 404 is a wrong path.
    """
    text = "\n".join(lines).lower()
    for needles, reason in _PATTERNS:
        if any(needle in text for needle in needles):
            if reason is EndReason.NOT_FOUND and was_recording:
                return EndReason.CAMERA_OFFLINE
            return reason
    return EndReason.CAMERA_OFFLINE if was_recording else EndReason.FFMPEG_ERROR


def audio_refused(lines: list[str]) -> str | None:
    """The audio codec the container refused (`pcm_mulaw`), or None when it refused none."""
    text = "\n".join(lines)
    if not any(needle in text.lower() for needle in _AUDIO_REFUSED):
        return None
    match = _REFUSED_CODEC.search(text)
    return match.group(1).lower() if match else UNKNOWN_CODEC


def transport_refused(lines: list[str]) -> bool:
    """True when the camera refused the RTSP transport ffmpeg asked for (RTSP 461)."""
    text = "\n".join(lines).lower()
    return any(needle in text for needle in _TRANSPORT_REFUSED)
