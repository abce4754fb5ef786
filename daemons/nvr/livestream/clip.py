"""A time range of recorded video as one stream-copied file, sent while ffmpeg writes it.

ffmpeg's concat demuxer reads the indexed segments (and the one being written), seeks to
the keyframe at or before the start, and copies packets into fragmented MP4 on a pipe, so
the first bytes leave within milliseconds of the request (docs/design/playback.md,
invariants 1 and 2). Plain MP4 needs its index written after the media: it is made in a
private temporary file first, then sent and removed. Nothing is re-encoded and nothing is
written into the recordings tree.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from nvr.core.export import recorded_ms
from nvr.core.recordings import Segment
from nvr.core.tools import require_tool
from nvr.livestream.errors import LivestreamError
from nvr.livestream.recorded import OPEN_STATUS

log = logging.getLogger(__name__)

# Bigger reads, fewer trips through Python per byte (measured: bench_playback, /get CPU).
CHUNK_BYTES = 256 * 1024
FMP4_MOVFLAGS = "+frag_keyframe+empty_moov+default_base_moof"
STOP_TIMEOUT_SECONDS = 5.0
MP4_TIMEOUT_SECONDS = 600.0
# Temporary copies live in /tmp (PrivateTmp: the root filesystem, shared with the state
# file): leave this much free after them.
TEMP_RESERVE_BYTES = 1 << 30


class TempSpaceError(LivestreamError):
    """Not enough room in the temporary directory for a copy of the range."""


def ensure_temp_space(needed_bytes: int) -> None:
    """TempSpaceError unless `needed_bytes` fit in /tmp with TEMP_RESERVE_BYTES to spare."""
    free = shutil.disk_usage(tempfile.gettempdir()).free
    if free - needed_bytes < TEMP_RESERVE_BYTES:
        raise TempSpaceError(
            f"a temporary copy of {needed_bytes >> 20} MiB does not fit beside the state file"
            f" ({free >> 20} MiB free): ask for a shorter range, use format=fmp4, or run"
            " `nvrctl export`"
        )


@dataclass(frozen=True)
class ClipPlan:
    """What to join: the segments, where to start in the first, how long to copy."""

    camera: str
    segments: tuple[Segment, ...]
    offset_ms: int
    duration_ms: int


def plan_clip(camera: str, segments: list[Segment], from_ms: int, to_ms: int) -> ClipPlan:
    """The plan for [from_ms, to_ms) over `segments` (oldest first, non-empty).

    Gaps are left out, as in `nvrctl export`: the concat demuxer joins the segments with
    continuous timestamps, so the clip lasts the recorded time, not the wall-clock range.
    """
    offset = max(0, from_ms - segments[0].start_ms)
    return ClipPlan(camera, tuple(segments), offset, recorded_ms(segments, from_ms, to_ms))


def concat_list(recordings_dir: Path, plan: ClipPlan) -> bytes:
    """The ffconcat script, given to ffmpeg on stdin (no temporary file)."""
    lines = ["ffconcat version 1.0"]
    for seg in plan.segments:
        path = str(recordings_dir / seg.path).replace("'", "'\\''")
        # `file:` explicitly: read from pipe:0, a bare path would be taken as pipe:<path>.
        lines.append(f"file 'file:{path}'")
    return ("\n".join(lines) + "\n").encode()


def ffmpeg_argv(plan: ClipPlan, output: str, fragmented: bool) -> list[str]:
    """Stream copy of the plan into `output` (`pipe:1` or a file)."""
    movflags = FMP4_MOVFLAGS if fragmented else "+faststart"
    return [
        require_tool("ffmpeg"), "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
        "-protocol_whitelist", "file,pipe", "-f", "concat", "-safe", "0",
        "-ss", f"{plan.offset_ms / 1000:.3f}", "-i", "pipe:0",
        "-t", f"{plan.duration_ms / 1000:.3f}", "-map", "0:v", "-map", "0:a?", "-c", "copy",
        "-movflags", movflags, "-f", "mp4", output,
    ]  # fmt: skip


def _start(argv: list[str], listing: bytes) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # our SIGTERM is for the daemon, not its children
    )
    assert proc.stdin is not None
    proc.stdin.write(listing)
    proc.stdin.close()
    return proc


def _finish(proc: subprocess.Popen[bytes], plan: ClipPlan, complete: bool) -> None:
    """Reap ffmpeg; one log line when it failed (a segment deleted meanwhile, say).

    See docs/design/playback.md, invariant 5.
    """
    if not complete and proc.poll() is None:
        proc.kill()  # the client went away: stop copying
    try:
        proc.wait(STOP_TIMEOUT_SECONDS)  # after its output ended, ffmpeg is exiting
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(STOP_TIMEOUT_SECONDS)
    stderr = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    # ffmpeg 5.1 exits 0 when the concat demuxer cannot open a later file: its error
    # line (loglevel error) is the sign.
    # A growing file (the segment being written) ends inside a fragment: no news there.
    growing = plan.segments[-1].status == OPEN_STATUS
    if complete and not growing and (proc.returncode != 0 or stderr.strip()):
        last = (stderr.strip().splitlines() or ["(no output)"])[-1]
        log.warning(
            "playback camera=%s: ffmpeg ended early (%s): a segment deleted by retention"
            " while being played, or a damaged file; the clip is cut short",
            plan.camera,
            last,
        )
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()


class FragmentedClip:
    """ffmpeg writing fMP4 to a pipe; iterate to get the bytes, then `close()`.

    `first` is read before any header is sent: an ffmpeg that writes nothing (every file
    gone) becomes a 404 instead of an empty 200. The WSGI server calls `close()` however
    the response ends (even never iterated), so ffmpeg is always reaped.
    """

    def __init__(self, recordings_dir: Path, plan: ClipPlan) -> None:
        self.plan = plan
        self._proc = _start(ffmpeg_argv(plan, "pipe:1", True), concat_list(recordings_dir, plan))
        self._complete = False
        self._reaped = False
        assert self._proc.stdout is not None
        self.first = self._proc.stdout.read1(CHUNK_BYTES)  # type: ignore[attr-defined]
        if not self.first:
            self.close()

    def __iter__(self) -> Iterator[bytes]:
        """The bytes as ffmpeg writes them."""
        if self._reaped:
            return  # ffmpeg wrote nothing and is reaped already
        stdout = self._proc.stdout
        assert stdout is not None
        yield self.first
        while chunk := stdout.read1(CHUNK_BYTES):  # type: ignore[attr-defined]
            yield chunk
        self._complete = True

    def close(self) -> None:
        """Stop ffmpeg if the client left early and reap it (once)."""
        if not self._reaped:
            self._reaped = True
            _finish(self._proc, self.plan, self._complete)


class FileChunks:
    """A temporary file's bytes; the file is removed on `close()`, however the response ends."""

    def __init__(self, path: Path) -> None:
        self._path = path

    def __iter__(self) -> Iterator[bytes]:
        """The bytes, CHUNK_BYTES at a time."""
        with self._path.open("rb") as handle:
            while chunk := handle.read(CHUNK_BYTES):
                yield chunk

    def close(self) -> None:
        """Remove the file."""
        self._path.unlink(missing_ok=True)


def mp4_file(recordings_dir: Path, plan: ClipPlan) -> Path | None:
    """Plain MP4 of the plan in a private temporary file (the caller removes it)."""
    ensure_temp_space(sum(seg.bytes for seg in plan.segments))
    handle, name = tempfile.mkstemp(prefix="nvr-playback-", suffix=".mp4")
    os.close(handle)
    proc = _start(ffmpeg_argv(plan, name, False), concat_list(recordings_dir, plan))
    try:
        proc.wait(MP4_TIMEOUT_SECONDS)
    finally:
        _finish(proc, plan, complete=True)
    if proc.returncode != 0 or os.path.getsize(name) == 0:
        os.unlink(name)
        return None
    return Path(name)
