"""The fragment index behind the HLS playlists, on files cut as nvr-backup cuts them."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from nvr.core.tools import require_tool
from nvr.livestream.fmp4 import Fmp4Error, index_fragments

FMP4 = "movflags=+frag_keyframe+empty_moov+default_base_moof"


@pytest.fixture(scope="module")
def segment(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """6 s of H.264 (1 s GOP) with AAC audio, as one fMP4 segment."""
    path = tmp_path_factory.mktemp("fmp4") / "seg.mp4"
    subprocess.run(
        [require_tool("ffmpeg"), "-hide_banner", "-nostdin", "-loglevel", "error",
         "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=6",
         "-f", "lavfi", "-i", "sine=duration=6", "-c:v", "libx264", "-preset", "ultrafast",
         "-g", "25", "-pix_fmt", "yuv420p", "-c:a", "aac", "-movflags", FMP4[9:], str(path)],
        check=True, timeout=60,
    )  # fmt: skip
    return path


def probed_seconds(path: Path) -> float:
    result = subprocess.run(
        [require_tool("ffprobe"), "-v", "error", "-show_format", "-of", "json", str(path)],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    return float(json.loads(result.stdout)["format"]["duration"])


def test_fragments_cover_the_file_and_last_as_long_as_ffprobe_says(segment: Path) -> None:
    index = index_fragments(segment)
    assert len(index.fragments) == 6  # one per keyframe
    position = index.init_size
    for fragment in index.fragments:
        assert fragment.offset == position  # contiguous byte ranges after the init section
        assert 0.9 <= fragment.seconds <= 1.1
        position += fragment.size
    tail = segment.read_bytes()[position:]
    assert tail[4:8] == b"mfra"  # after the last fragment only the random-access index
    assert abs(index.seconds - probed_seconds(segment)) < 0.1


def test_a_torn_last_fragment_is_left_out_and_a_foreign_file_refused(
    segment: Path, tmp_path: Path
) -> None:
    whole = index_fragments(segment)
    torn = tmp_path / "torn.mp4"
    last = whole.fragments[-1]
    torn.write_bytes(segment.read_bytes()[: last.offset + last.size // 2])  # power cut
    assert index_fragments(torn).fragments == whole.fragments[:-1]
    foreign = tmp_path / "foreign.mp4"
    foreign.write_bytes(b"\x00\x00\x00\x10mdatxxxxxxxx")
    with pytest.raises(Fmp4Error, match="no moov"):
        index_fragments(foreign)
