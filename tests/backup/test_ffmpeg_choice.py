"""Which ffmpeg records: ffmpeg-rec when installed, Debian's ffmpeg otherwise, a bad path said."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from nvr.backup.command import recording_ffmpeg
from nvr.core.errors import MissingToolError
from nvr.core.tools import require_tool


def test_the_recording_build_is_preferred_and_a_bad_path_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ffmpeg = require_tool("ffmpeg")
    monkeypatch.delenv("NVR_FFMPEG_REC_BIN", raising=False)
    monkeypatch.delenv("NVR_FFMPEG_BIN", raising=False)
    monkeypatch.setenv("PATH", str(Path(ffmpeg).parent))
    # Not installed: Debian's ffmpeg records (the box keeps recording).
    assert recording_ffmpeg() == ffmpeg

    # Installed on PATH: it records.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "ffmpeg-rec").symlink_to(ffmpeg)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{Path(ffmpeg).parent}")
    assert recording_ffmpeg() == str(bin_dir / "ffmpeg-rec")

    # A path set by hand that is wrong is an error naming the variable, not a silent fallback.
    monkeypatch.setenv("NVR_FFMPEG_REC_BIN", str(tmp_path / "missing"))
    with pytest.raises(MissingToolError, match=r"NVR_FFMPEG_REC_BIN=.*not an executable"):
        recording_ffmpeg()
