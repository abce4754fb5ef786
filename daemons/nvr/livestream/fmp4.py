"""The fragments of one recorded fMP4 segment: byte ranges and durations, for HLS playlists.

nvr-backup writes `empty_moov + frag_keyframe + default_base_moof` files: `ftyp moov` (the
init section) then one `moof mdat` pair per keyframe. An HLS playlist can point into the
file by byte range, so playback serves the recorded bytes themselves: no remux, no copy,
nothing written (docs/design/playback.md, invariant 3). Only box headers and the small
`moov`/`moof` boxes are read, never the media data.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from nvr.livestream.errors import LivestreamError

# moof boxes are a few hundred bytes; a bigger one is not a file of ours.
MAX_META_BOX_BYTES = 4 << 20
_TFHD_DEFAULT_DURATION = 0x08
_TRUN_FLAG_SIZES = ((0x01, 4), (0x04, 4))  # data offset, first sample flags
_TRUN_SAMPLE_FIELDS = (0x100, 0x200, 0x400, 0x800)  # duration, size, flags, composition


class Fmp4Error(LivestreamError):
    """A segment file is not the fragmented MP4 nvr-backup writes (or is cut short)."""


@dataclass(frozen=True)
class Fragment:
    """One `moof mdat` pair: where it lies in the file and how long it plays."""

    offset: int
    size: int
    seconds: float


@dataclass(frozen=True)
class FragmentIndex:
    """The init section (`ftyp moov`) and the fragments of one file."""

    init_size: int
    fragments: tuple[Fragment, ...]

    @property
    def seconds(self) -> float:
        """Total playing time of the fragments."""
        return sum(f.seconds for f in self.fragments)


@dataclass
class _Track:
    timescale: int = 1
    default_duration: int = 0


def _boxes(data: bytes, start: int = 0, end: int | None = None) -> list[tuple[bytes, int, int]]:
    """(type, payload start, box end) of the boxes in data[start:end]."""
    end = len(data) if end is None else end
    found = []
    while start + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, start)
        header = 8
        if size == 1:
            (size,) = struct.unpack_from(">Q", data, start + 8)
            header = 16
        if size < header or start + size > end:
            break
        found.append((kind, start + header, start + size))
        start += size
    return found


def _child(data: bytes, start: int, end: int, kind: bytes) -> tuple[int, int] | None:
    for found, payload, box_end in _boxes(data, start, end):
        if found == kind:
            return payload, box_end
    return None


def _tracks(moov: bytes) -> dict[int, _Track]:
    """track_ID -> timescale and trex default sample duration."""
    tracks: dict[int, _Track] = {}
    for kind, payload, end in _boxes(moov):
        if kind == b"trak":
            tkhd = _child(moov, payload, end, b"tkhd")
            mdia = _child(moov, payload, end, b"mdia")
            mdhd = _child(moov, *mdia, b"mdhd") if mdia else None
            if tkhd is None or mdhd is None:
                continue
            version = moov[tkhd[0]]
            (track_id,) = struct.unpack_from(">I", moov, tkhd[0] + (20 if version else 12))
            version = moov[mdhd[0]]
            (scale,) = struct.unpack_from(">I", moov, mdhd[0] + (20 if version else 12))
            tracks.setdefault(track_id, _Track()).timescale = scale or 1
        elif kind == b"mvex":
            for sub, sub_payload, _ in _boxes(moov, payload, end):
                if sub == b"trex":
                    track_id, _, default = struct.unpack_from(">III", moov, sub_payload + 4)
                    tracks.setdefault(track_id, _Track()).default_duration = default
    return tracks


def _traf_seconds(moof: bytes, payload: int, end: int, tracks: dict[int, _Track]) -> float:
    """Playing time of one track fragment: the sum of its samples' durations."""
    tfhd = _child(moof, payload, end, b"tfhd")
    if tfhd is None:
        raise Fmp4Error("track fragment without tfhd")
    flags, track_id = struct.unpack_from(">II", moof, tfhd[0])
    flags &= 0xFFFFFF
    track = tracks.get(track_id, _Track())
    default = track.default_duration
    if flags & _TFHD_DEFAULT_DURATION:
        skip = 8 * bool(flags & 0x01) + 4 * bool(flags & 0x02)
        (default,) = struct.unpack_from(">I", moof, tfhd[0] + 8 + skip)
    ticks = 0
    for kind, run, _ in _boxes(moof, payload, end):
        if kind == b"trun":
            ticks += _trun_ticks(moof, run, default)
    return ticks / track.timescale


def _trun_ticks(moof: bytes, run: int, default: int) -> int:
    flags, count = struct.unpack_from(">II", moof, run)
    flags &= 0xFFFFFF
    position = run + 8 + sum(size for bit, size in _TRUN_FLAG_SIZES if flags & bit)
    if not flags & 0x100:
        return int(count * default)
    stride = 4 * sum(1 for bit in _TRUN_SAMPLE_FIELDS if flags & bit)
    return sum(int(struct.unpack_from(">I", moof, position + i * stride)[0]) for i in range(count))


def _read_box(handle: BinaryIO, offset: int) -> tuple[bytes, int] | None:
    """(type, size) of the box at offset, or None at the end of the file or a torn box."""
    handle.seek(offset)
    header = handle.read(16)
    if len(header) < 8:
        return None
    size, kind = struct.unpack_from(">I4s", header)
    if size == 1 and len(header) == 16:
        (size,) = struct.unpack_from(">Q", header, 8)
    return (kind, size) if size >= 8 else None


def _meta(handle: BinaryIO, offset: int, size: int, what: str) -> bytes:
    if size > MAX_META_BOX_BYTES:
        raise Fmp4Error(f"{what} box of {size} bytes: not a segment of ours")
    handle.seek(offset + 8)
    return handle.read(size - 8)


def index_fragments(path: Path) -> FragmentIndex:
    """Read the box headers of `path`; a torn last fragment (a power cut) is left out."""
    file_size = path.stat().st_size
    tracks: dict[int, _Track] | None = None
    init_size = 0
    fragments: list[Fragment] = []
    moof_at, moof_seconds = -1, 0.0
    with path.open("rb") as handle:
        offset = 0
        while (box := _read_box(handle, offset)) is not None:
            kind, size = box
            if offset + size > file_size:
                break  # torn: written up to here when ffmpeg or the box died
            if kind == b"moov":
                tracks = _tracks(_meta(handle, offset, size, "moov"))
                init_size = offset + size
            elif kind == b"moof":
                if tracks is None:
                    raise Fmp4Error(f"{path}: fragment before the moov box")
                moof = _meta(handle, offset, size, "moof")
                trafs = [(p, e) for k, p, e in _boxes(moof) if k == b"traf"]
                moof_at = offset
                moof_seconds = max((_traf_seconds(moof, p, e, tracks) for p, e in trafs), default=0)
            elif kind == b"mdat" and moof_at >= 0:
                fragments.append(Fragment(moof_at, offset + size - moof_at, moof_seconds))
                moof_at = -1
            offset += size
    if tracks is None:
        raise Fmp4Error(f"{path}: no moov box (not an fMP4 segment)")
    return FragmentIndex(init_size, tuple(fragments))
