"""The recordings index as readers see it: listing, coverage, the evidence hash chain.

nvr-backup writes segment and run rows; nvrctl, nvr-report and nvr-health read them through
this module, so "minutes recorded" and "gap reason" mean the same thing everywhere.
See docs/design/recording.md.
"""

from __future__ import annotations

import hashlib
import sqlite3
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from nvr.core.timeutil import format_ms

# Segments closer than this are continuous: stream copy cuts at keyframes, so one
# segment's end and the next one's clock-aligned name can differ by a fraction of a GOP.
CONTINUITY_TOLERANCE_MS = 2_000
HASH_CHUNK_BYTES = 1 << 20
# The chain starts from this value for a camera's first segment.
CHAIN_GENESIS = "0" * 64


class EndReason(StrEnum):
    """Why a recording run ended; the reason a coverage gap is shown with."""

    CAMERA_OFFLINE = "camera offline"
    AUTH_FAILED = "auth failed"
    # Says what to change: a UDP-only camera answers RTSP 461 to ffmpeg's TCP request.
    TRANSPORT_REFUSED = "camera refused the RTSP transport (set rtsp_transport: auto)"
    NOT_FOUND = "stream not found"
    STALLED = "stalled"
    CONFIG_CHANGED = "config changed"
    CAMERA_REMOVED = "camera removed from config"
    SHUTDOWN = "shutdown"
    DISK_NOT_MOUNTED = "disk not mounted"
    DISK_READ_ONLY = "disk read-only"
    DIRECTORY_MISSING = "recordings directory missing"
    DIRECTORY_NOT_WRITABLE = "recordings directory not writable"
    DISK_FULL = "disk full"
    FFMPEG_ERROR = "ffmpeg error"
    # Only this verdict of nvr-validator stops recording: the operator asked for it
    # (docs/design/validation.md, invariant 6).
    PICTURE_POLICY = "paused by picture policy: black or covered picture"
    CRASHED = "nvr-backup stopped unexpectedly"
    # Not an end of recording: the run is split where the wall clock jumped, so coverage
    # shows the jump (a hole after a step forwards) with its cause.
    CLOCK_STEP = "clock step"
    # A run still open when the box boots: the box lost power or was reset (powercut.md).
    POWER_LOSS = "power loss (unclean shutdown)"


# Reasons given to gaps that no run explains.
GAP_IN_PROGRESS = "segment in progress"
GAP_NOT_RECORDING = "not recording"
GAP_NO_SEGMENTS = "recording produced no segments"


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's content, hex."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(HASH_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def chain_hash(previous_chain: str, segment_sha256: str) -> str:
    """Link a segment into its camera's chain: sha256(previous chain || segment hash)."""
    return hashlib.sha256(f"{previous_chain}{segment_sha256}".encode()).hexdigest()


@dataclass(frozen=True)
class Segment:
    """One indexed segment."""

    id: int
    camera: str
    path: str
    start_ms: int
    end_ms: int
    bytes: int
    sha256: str | None
    chain_sha256: str | None
    status: str

    def to_json(self) -> dict[str, Any]:
        """The JSON shape of `nvrctl recordings list --json`."""
        data = asdict(self)
        data["start"] = format_ms(self.start_ms)
        data["end"] = format_ms(self.end_ms)
        data["duration_seconds"] = (self.end_ms - self.start_ms) / 1000
        return data


_SEGMENT_COLUMNS = "id, camera, path, start_ms, end_ms, bytes, sha256, chain_sha256, status"


# No segment is longer than storage.segment_seconds allows (3600 s) plus a GOP.
LONGEST_SEGMENT_MS = 3_660_000


def list_segments(
    conn: sqlite3.Connection,
    camera: str,
    from_ms: int | None = None,
    to_ms: int | None = None,
    statuses: tuple[str, ...] = ("ok",),
) -> list[Segment]:
    """Segments of a camera overlapping [from_ms, to_ms), oldest first."""
    placeholders = ",".join("?" * len(statuses))
    after_ms = -1 if from_ms is None else from_ms
    # The lower bound on start_ms lets SQLite walk only the range's rows of the
    # (camera, start_ms) index: 3.8 ms instead of 81 ms for 24 h of a 1,000,000-row index.
    rows = conn.execute(
        f"SELECT {_SEGMENT_COLUMNS} FROM segments WHERE camera = ? AND end_ms > ?"
        f" AND start_ms > ? AND start_ms < ? AND status IN ({placeholders})"
        " ORDER BY start_ms, id",
        (camera, after_ms, after_ms - LONGEST_SEGMENT_MS, to_ms or 2**62, *statuses),
    ).fetchall()
    return [Segment(*row) for row in rows]


def latest_segment(conn: sqlite3.Connection, camera: str) -> Segment | None:
    """The camera's newest closed, indexed segment (what the validator checks).

    Newest by insertion (id), not by start_ms: after the wall clock stepped back, the
    segments of the first take sort after the ones being recorded now.
    """
    row = conn.execute(
        f"SELECT {_SEGMENT_COLUMNS} FROM segments WHERE camera = ? AND status = 'ok'"
        " ORDER BY id DESC LIMIT 1",  # the (camera, id) index
        (camera,),
    ).fetchone()
    return Segment(*row) if row else None


@dataclass(frozen=True)
class Gap:
    """A stretch without recording and why."""

    start_ms: int
    end_ms: int
    reason: str

    def to_json(self) -> dict[str, Any]:
        """JSON for reports and the CLI."""
        return {
            "start": format_ms(self.start_ms),
            "end": format_ms(self.end_ms),
            "seconds": round((self.end_ms - self.start_ms) / 1000, 1),
            "reason": self.reason,
        }


@dataclass
class Coverage:
    """Minutes recorded against minutes expected, with each gap's reason."""

    camera: str
    from_ms: int
    to_ms: int
    recorded_ms: int = 0
    gaps: list[Gap] = field(default_factory=list)

    @property
    def expected_ms(self) -> int:
        """The whole requested period."""
        return self.to_ms - self.from_ms

    def to_json(self) -> dict[str, Any]:
        """JSON for reports and the CLI."""
        expected = self.expected_ms
        return {
            "camera": self.camera,
            "from": format_ms(self.from_ms),
            "to": format_ms(self.to_ms),
            "expected_minutes": round(expected / 60_000, 2),
            "recorded_minutes": round(self.recorded_ms / 60_000, 2),
            "percent": round(100 * self.recorded_ms / expected, 2) if expected else 0.0,
            "gaps": [gap.to_json() for gap in self.gaps],
        }


def _merge(segments: list[Segment], from_ms: int, to_ms: int) -> list[tuple[int, int]]:
    """Recorded intervals clipped to the period, neighbours within tolerance joined."""
    merged: list[tuple[int, int]] = []
    for seg in segments:
        start, end = max(seg.start_ms, from_ms), min(seg.end_ms, to_ms)
        if end <= start:
            continue
        if merged and start - merged[-1][1] <= CONTINUITY_TOLERANCE_MS:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


@dataclass(frozen=True)
class _Run:
    started_at_ms: int
    ended_at_ms: int | None
    end_reason: str | None


def _runs(conn: sqlite3.Connection, camera: str, from_ms: int, to_ms: int) -> list[_Run]:
    rows = conn.execute(
        "SELECT started_at_ms, ended_at_ms, end_reason FROM recording_runs WHERE camera = ?"
        " AND started_at_ms < ? AND (ended_at_ms IS NULL OR ended_at_ms >= ?)"
        " ORDER BY started_at_ms",
        (camera, to_ms, from_ms - CONTINUITY_TOLERANCE_MS),
    ).fetchall()
    return [_Run(*row) for row in rows]


def _gap_reason(gap_start: int, gap_end: int, runs: list[_Run], period_end: int) -> str:
    """The reason of the first run that ended around the gap's start, else a fallback."""
    for run in runs:
        ended = run.ended_at_ms
        if ended is not None and gap_start - CONTINUITY_TOLERANCE_MS <= ended <= gap_end:
            return run.end_reason or GAP_NOT_RECORDING
    active = [r for r in runs if r.started_at_ms <= gap_end and r.ended_at_ms is None]
    if active and gap_end >= period_end:
        # The newest segment is still open in ffmpeg; it is indexed when it closes.
        return GAP_IN_PROGRESS
    if any(r.started_at_ms <= gap_start for r in active):
        return GAP_NO_SEGMENTS
    return GAP_NOT_RECORDING


def _explained_gaps(gap_start: int, gap_end: int, runs: list[_Run], period_end: int) -> list[Gap]:
    """One gap cut where a run ended inside it, neighbours with the same reason joined.

    A gap can have several causes in turn: nvr-backup shut down, then on its restart held
    the camera for the picture policy (a run that ends as it starts says so).
    """
    cuts = sorted(
        {
            r.ended_at_ms
            for r in runs
            if r.ended_at_ms is not None
            and gap_start + CONTINUITY_TOLERANCE_MS < r.ended_at_ms < gap_end
        }
    )
    gaps: list[Gap] = []
    for start, end in zip([gap_start, *cuts], [*cuts, gap_end], strict=True):
        reason = _gap_reason(start, end, runs, period_end)
        if gaps and gaps[-1].reason == reason:
            gaps[-1] = Gap(gaps[-1].start_ms, end, reason)
        else:
            gaps.append(Gap(start, end, reason))
    return gaps


def coverage(conn: sqlite3.Connection, camera: str, from_ms: int, to_ms: int) -> Coverage:
    """How much of [from_ms, to_ms) is recorded, and why the rest is not."""
    result = Coverage(camera=camera, from_ms=from_ms, to_ms=to_ms)
    intervals = _merge(list_segments(conn, camera, from_ms, to_ms), from_ms, to_ms)
    runs = _runs(conn, camera, from_ms, to_ms)
    cursor = from_ms
    for start, end in [*intervals, (to_ms, to_ms)]:
        if start - cursor > CONTINUITY_TOLERANCE_MS:
            result.gaps.extend(_explained_gaps(cursor, start, runs, to_ms))
        result.recorded_ms += end - start
        cursor = max(cursor, end)
    return result
