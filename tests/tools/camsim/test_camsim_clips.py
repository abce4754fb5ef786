"""The looped clips: encoded once as cameras send them, cached, and the option parsers."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from nvr.core.tools import require_tool
from nvr_camsim import ClipSpec, Fault, Variant, ensure_clip, parse_fault
from nvr_camsim.clips import CLIP_SECONDS, alternate_resolution, parse_bitrate, parse_resolution

pytestmark = pytest.mark.timeout(120)


def ffprobe_file(path: Path) -> Any:
    argv = [
        require_tool("ffprobe"), "-v", "error", "-select_streams", "v:0",
        "-show_entries", "stream=codec_name,width,height,r_frame_rate,has_b_frames,nb_frames"
        ":format=bit_rate:packet=flags", "-of", "json", str(path),
    ]  # fmt: skip
    return json.loads(subprocess.run(argv, capture_output=True, check=True, text=True).stdout)


def test_clip_is_h264_25fps_with_a_one_second_gop(tmp_path: Path) -> None:
    spec = ClipSpec(Variant.NORMAL, 320, 180, 400_000)
    clip = ensure_clip(spec, tmp_path)
    info = ffprobe_file(clip)
    stream = info["streams"][0]
    assert (stream["codec_name"], stream["width"], stream["height"]) == ("h264", 320, 180)
    assert stream["r_frame_rate"] == "25/1"
    assert stream["has_b_frames"] == 0
    assert int(stream["nb_frames"]) == 25 * CLIP_SECONDS
    keyframes = [i for i, p in enumerate(info["packets"]) if "K" in p["flags"]]
    assert keyframes == list(range(0, 25 * CLIP_SECONDS, 25))
    assert int(info["format"]["bit_rate"]) == pytest.approx(400_000, rel=0.25)


def test_clip_is_encoded_once_and_written_atomically(tmp_path: Path) -> None:
    spec = ClipSpec(Variant.DARK, 320, 180, 300_000)
    first = ensure_clip(spec, tmp_path)
    stamp = first.stat().st_mtime_ns
    assert ensure_clip(spec, tmp_path) == first
    assert first.stat().st_mtime_ns == stamp
    assert [p.name for p in tmp_path.iterdir()] == [first.name], "no temp files left"


def test_1080p_at_4_mbits() -> None:
    # Default cache: the benchmarks use the same clip, so it is encoded once for both.
    clip = ensure_clip(ClipSpec(Variant.NORMAL, 1920, 1080, 4_000_000))
    info = ffprobe_file(clip)
    assert info["streams"][0]["height"] == 1080
    assert int(info["format"]["bit_rate"]) == pytest.approx(4_000_000, rel=0.15)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1280x720", (1280, 720)), (" 1920X1080 ", (1920, 1080)), ("640x360", (640, 360))],
)
def test_parse_resolution(text: str, expected: tuple[int, int]) -> None:
    assert parse_resolution(text) == expected


@pytest.mark.parametrize(
    "text", ["1280", "1280x", "x720", "1281x720", "8x8", "99999x720", "a by b"]
)
def test_bad_resolution_is_one_line(text: str) -> None:
    with pytest.raises(ValueError, match="bad resolution") as caught:
        parse_resolution(text)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("2M", 2_000_000), ("1500k", 1_500_000), ("4000000", 4_000_000), ("0.8M", 800_000)],
)
def test_parse_bitrate(text: str, expected: int) -> None:
    assert parse_bitrate(text) == expected


@pytest.mark.parametrize("text", ["", "fast", "2G", "10", "-1M"])
def test_bad_bitrate(text: str) -> None:
    with pytest.raises(ValueError, match="bad bitrate"):
        parse_bitrate(text)


def test_parse_fault() -> None:
    assert parse_fault("black") is Fault.BLACK
    assert parse_fault("Wrong-Password") is Fault.WRONG_PASSWORD
    assert parse_fault("none") is None
    with pytest.raises(ValueError, match="unknown fault 'sparkly'"):
        parse_fault("sparkly")


def test_wrong_resolution_is_always_another_size() -> None:
    assert alternate_resolution(1280, 720) == (640, 360)
    assert alternate_resolution(1920, 1080) == (640, 360)
    assert alternate_resolution(640, 360) == (1280, 720)
