"""HLS over the recorded files: a VOD playlist pointing into them by byte range.

Each recorded file follows an `#EXT-X-DISCONTINUITY` (nvr-backup resets timestamps per
file), with its own `#EXT-X-MAP` (the `ftyp moov` init section) and one `#EXTINF` +
`#EXT-X-BYTERANGE` per `moof mdat` fragment; the bytes are the recorded ones, served as
they are (docs/design/playback.md, invariants 1 and 3).
"""

from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path

from nvr.core.recordings import Segment
from nvr.core.timeutil import format_ms
from nvr.livestream.fmp4 import Fmp4Error, FragmentIndex, index_fragments

log = logging.getLogger(__name__)

FRAGMENT_INDEX_CACHE = 4096  # files are never rewritten (evidence): a parse is kept


def _fragments(path: Path) -> FragmentIndex:
    """The fragments of a recorded file, parsed once per file version."""
    info = path.stat()
    return _parsed(path, info.st_size, info.st_mtime_ns)


@lru_cache(maxsize=FRAGMENT_INDEX_CACHE)
def _parsed(path: Path, size: int, mtime_ns: int) -> FragmentIndex:
    # Size and mtime in the key: a name reused after retention is parsed anew.
    return index_fragments(path)


def playlist(recordings_dir: Path, segments: list[Segment], from_ms: int, to_ms: int) -> str | None:
    """The m3u8 text: each file after a discontinuity (its timestamps restart at 0).

    Fragments wholly outside [from_ms, to_ms) are left out; None when nothing is left.
    """
    lines: list[str] = []
    longest = 1.0
    for seg in segments:
        if seg.path.endswith(".ts"):  # MPEG-TS: each file is one whole HLS segment
            seconds = (seg.end_ms - seg.start_ms) / 1000
            lines += [*(["#EXT-X-DISCONTINUITY"] if lines else []), f"#EXTINF:{seconds:.3f},",
                      f"{seg.id}.ts"]  # fmt: skip
            longest = max(longest, seconds)
            continue
        try:
            index = _fragments(recordings_dir / seg.path)
        except (OSError, Fmp4Error) as err:
            log.warning("playback: %s left out of a playlist: %s", seg.path, err)
            continue
        body, longest = _file_entries(seg, index, from_ms, to_ms, longest)
        if body:
            lines += (["#EXT-X-DISCONTINUITY"] if lines else []) + body
    if not lines:
        return None
    header = [
        "#EXTM3U",
        "#EXT-X-VERSION:7",
        f"#EXT-X-TARGETDURATION:{int(longest + 0.999)}",
        "#EXT-X-PLAYLIST-TYPE:VOD",
        "#EXT-X-MEDIA-SEQUENCE:0",
        "#EXT-X-INDEPENDENT-SEGMENTS",
    ]
    return "\n".join([*header, *lines, "#EXT-X-ENDLIST", ""])


def _file_entries(
    seg: Segment, index: FragmentIndex, from_ms: int, to_ms: int, longest: float
) -> tuple[list[str], float]:
    uri = f"{seg.id}.mp4"
    entries: list[str] = []
    position_ms = float(seg.start_ms)
    for fragment in index.fragments:
        begins, position_ms = position_ms, position_ms + fragment.seconds * 1000
        if position_ms <= from_ms or begins >= to_ms or fragment.seconds <= 0:
            continue
        if not entries:
            entries += [
                f"#EXT-X-PROGRAM-DATE-TIME:{format_ms(int(begins))}",
                f'#EXT-X-MAP:URI="{uri}",BYTERANGE="{index.init_size}@0"',
            ]
        entries += [
            f"#EXTINF:{fragment.seconds:.3f},",
            f"#EXT-X-BYTERANGE:{fragment.size}@{fragment.offset}",
            uri,
        ]
        longest = max(longest, fragment.seconds)
    return entries, longest
