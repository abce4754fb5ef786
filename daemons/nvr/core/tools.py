"""Finding the external programs the appliance drives (ffmpeg, ffprobe, mediamtx, ...)."""

from __future__ import annotations

import os
import shutil

from nvr.core.errors import MissingToolError

# Where an environment variable may point at a binary outside PATH (the dev build of
# mediamtx lives in ~/.cache/nvr-dev/bin, see packaging/dev/build-mediamtx.sh).
ENV_OVERRIDES = {
    "mediamtx": "NVR_MEDIAMTX_BIN",
    "ffmpeg": "NVR_FFMPEG_BIN",
    # nvr-backup's recording-only build (packaging/dev/build-ffmpeg-rec.sh)
    "ffmpeg-rec": "NVR_FFMPEG_REC_BIN",
    "ffprobe": "NVR_FFPROBE_BIN",
    "minio": "NVR_MINIO_BIN",  # tests and the demo only (packaging/dev/build-minio.sh)
    "mosquitto": "NVR_MOSQUITTO_BIN",
}


def require_tool(name: str) -> str:
    """Absolute path of `name`, or MissingToolError saying where we looked."""
    env = ENV_OVERRIDES.get(name)
    override = os.environ.get(env) if env else None
    if override:
        if os.path.isfile(override) and os.access(override, os.X_OK):
            return override
        raise MissingToolError(f"{name} not found: {env}={override} is not an executable file")
    found = shutil.which(name)
    if found is None:
        hint = f" or set {env}" if env else ""
        raise MissingToolError(f"{name} not found in PATH: install it{hint}")
    return found
