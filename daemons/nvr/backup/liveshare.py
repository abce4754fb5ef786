"""Single-session cameras: the recorder's one session also feeds live view.

Many cheap cameras serve one RTSP session. For a camera with `sessions: 1`, nvr-backup's
ffmpeg writes its stream through the tee muxer to two places: the segments (the slave
that matters: `onfail=abort`, so a broken recording never runs on silently) and the
live-view mediamtx (`onfail=ignore`, through a fifo that reconnects after a mediamtx
restart), so a dead or restarting mediamtx never stops recording. nvr-livestream then
configures that path as a publisher path instead of pulling the camera.
See docs/design/livestream.md ("Single-session cameras").

Checked with ffmpeg 5.1: recording goes on with mediamtx down, and live view returns when
mediamtx comes back (tests/livestream/test_single_session.py).
"""

from __future__ import annotations

from urllib.parse import quote

from nvr.core.config import CameraConfig
from nvr.core.config.livestream import LivestreamConfig

# The live slave's fifo: retry the publish after any error, every 2 s, dropping packets
# rather than growing memory while mediamtx is away.
LIVE_FIFO_OPTIONS = (
    "attempt_recovery=1:recover_any_error=1:recovery_wait_time=2:drop_pkts_on_overflow=1"
)
# Output options that stay on ffmpeg's command line, outside the tee muxer.
CODEC_KEYS = ("vcodec", "acodec")
# Characters the tee muxer's parsers treat specially; a backslash makes them literal.
_SPECIAL = "\\:=|[]'"


def publish_url(livestream: LivestreamConfig, camera: CameraConfig) -> str | None:
    """Where nvr-backup publishes a single-session camera's live view; None otherwise."""
    if not camera.live_via_recorder or livestream.publisher is None:
        return None
    if livestream.publisher_password is None:
        return None
    user = quote(livestream.publisher, safe="")
    password = quote(livestream.publisher_password.reveal(), safe="")
    return f"rtsp://{user}:{password}@127.0.0.1:{livestream.rtsp_port}/{camera.id}"


def _escape(text: str) -> str:
    return "".join(f"\\{ch}" if ch in _SPECIAL else ch for ch in text)


def _slave(options: dict[str, object], target: str) -> str:
    """`[key=value:...]target`, escaped for the tee muxer.

    Option values are read through two levels of unescaping (the tee list, then the
    slave's options), the target through one.
    """
    spec = ":".join(f"{key}={_escape(_escape(str(value)))}" for key, value in options.items())
    return f"[{spec}]{_escape(target)}"


def tee_output(
    output_args: dict[str, object], pattern: str, live_url: str
) -> tuple[str, dict[str, object]]:
    """The tee muxer's target and the options left outside it (codecs, `f=tee`).

    `output_args` and `pattern` are the segment output nvr-backup would use alone.
    """
    codecs = {key: value for key, value in output_args.items() if key in CODEC_KEYS}
    segment = {key: value for key, value in output_args.items() if key not in CODEC_KEYS}
    record = _slave({**segment, "onfail": "abort"}, pattern)
    live = _slave(
        {
            "f": "rtsp",
            "rtsp_transport": "tcp",  # to our own mediamtx on loopback
            "onfail": "ignore",
            "use_fifo": 1,
            "fifo_options": LIVE_FIFO_OPTIONS,
        },
        live_url,
    )
    return f"{record}|{live}", {**codecs, "f": "tee"}
