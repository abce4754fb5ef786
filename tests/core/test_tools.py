"""A missing external program is one line that says what and where."""

from __future__ import annotations

from pathlib import Path

import pytest

from nvr.core.errors import MissingToolError
from nvr.core.tools import require_tool


def test_finds_real_ffmpeg() -> None:
    assert Path(require_tool("ffmpeg")).name == "ffmpeg"


def test_missing_from_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("NVR_FFPROBE_BIN", raising=False)
    with pytest.raises(MissingToolError) as info:
        require_tool("ffprobe")
    assert str(info.value) == "ffprobe not found in PATH: install it or set NVR_FFPROBE_BIN"


def test_override_pointing_nowhere(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("NVR_MEDIAMTX_BIN", str(tmp_path / "mediamtx"))
    with pytest.raises(MissingToolError) as info:
        require_tool("mediamtx")
    assert str(info.value) == (
        f"mediamtx not found: NVR_MEDIAMTX_BIN={tmp_path / 'mediamtx'} is not an executable file"
    )
