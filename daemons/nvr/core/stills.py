"""One still picture as JPEG, by ffmpeg: from a camera's stream or from a recorded file.

Shared by the `snapshot` command (a camera's live stream) and nvr-hse's alarm pictures
(the newest recorded segment), so both write, time out and fail the same way: the JPEG
appears whole under its name or not at all, and ffmpeg's last line says why (redacted:
a camera URL carries its password).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from nvr.core.errors import NvrError
from nvr.core.process import run_child
from nvr.core.redact import redact_text
from nvr.core.tools import require_tool


class StillError(NvrError):
    """No picture: ffmpeg failed, decoded nothing, or took too long."""


def write_jpeg(input_args: list[str], output: Path, qscale: int, timeout_s: float) -> Path:
    """Decode the first frame ffmpeg reads with `input_args` into `output` (JPEG)."""
    partial = output.with_name(f".{output.name}.part")
    argv = [
        require_tool("ffmpeg"), "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
        *input_args, "-frames:v", "1", "-c:v", "mjpeg", "-q:v", str(qscale),
        "-f", "image2", str(partial),
    ]  # fmt: skip
    try:
        result = run_child(argv, timeout_s)
    except subprocess.TimeoutExpired:
        partial.unlink(missing_ok=True)
        raise StillError(f"no picture within {timeout_s:g} s") from None
    if result.returncode != 0 or not partial.exists() or partial.stat().st_size == 0:
        partial.unlink(missing_ok=True)
        last = (result.stderr.strip().splitlines() or ["no picture decoded"])[-1]
        raise StillError(redact_text(last))
    return partial.replace(output)
