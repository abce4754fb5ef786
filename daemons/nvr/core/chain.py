"""The evidence hash chain across deletions: its tip, its heads, and its verification.

Each camera's segments form a chain in index order (`chain = sha256(prev || sha256)`,
docs/design/recording.md, invariant 2). nvr-hddmon deletes segments, so the deleted ones
leave a tombstone with their hash and link (table `segment_tombstones`), and the chain is
read here as the union of live rows and tombstones, in id order. See
docs/design/evidence.md.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nvr.core.tables.recordings import (
    CHAIN_GENESIS,
    CONTINUITY_TOLERANCE_MS,
    Gap,
    chain_hash,
    file_sha256,
)
from nvr.core.timeutil import format_ms

# Live rows and tombstones in one id order; `kept` tells them apart.
_ENTRIES = (
    "SELECT id, path, start_ms, end_ms, sha256, chain_sha256, status, NULL, NULL, 1"
    " FROM segments WHERE camera = :camera AND sha256 IS NOT NULL AND id > :after"
    " AND id <= :upto"
    " UNION ALL"
    " SELECT segment_id, path, start_ms, end_ms, sha256, chain_sha256, status, reason,"
    " deleted_at_ms, 0 FROM segment_tombstones WHERE camera = :camera AND segment_id > :after"
    " AND segment_id <= :upto ORDER BY 1"
)
NO_LIMIT = 2**62
# Manifest heads go out with every status report for a day (at most this many per
# report), and are forgotten after a week.
MANIFEST_HEADS_SENT_MS = 86_400_000
MANIFEST_HEADS_SENT_MAX = 200
MANIFEST_HEADS_KEPT_MS = 7 * 86_400_000
# Longer than any retention a clip could be exported from.
REPORTED_HEADS_KEPT_MS = 400 * 86_400_000


@dataclass(frozen=True)
class ChainEntry:
    """One link of a camera's chain: a live segment row or the tombstone of a deleted one."""

    id: int
    path: str
    start_ms: int
    end_ms: int
    sha256: str
    chain_sha256: str | None  # None: quarantined when indexed, outside the chain
    status: str
    deleted_reason: str | None
    deleted_at_ms: int | None
    kept: bool  # False: a tombstone

    @property
    def chained(self) -> bool:
        """True when this entry is a link of the chain."""
        return self.chain_sha256 is not None


def chain_entries(
    conn: sqlite3.Connection, camera: str, after_id: int = -1, upto_id: int = NO_LIMIT
) -> Iterator[ChainEntry]:
    """The camera's entries with after_id < id <= upto_id, in chain (id) order."""
    rows = conn.execute(_ENTRIES, {"camera": camera, "after": after_id, "upto": upto_id})
    for row in rows:
        entry_id, path, start_ms, end_ms, sha256, chain, status, reason, deleted_at, kept = row
        yield ChainEntry(
            entry_id, path, start_ms, end_ms, sha256, chain, status, reason, deleted_at, bool(kept)
        )


@dataclass(frozen=True)
class ChainHead:
    """The newest link of a camera's chain, as status reports carry it to head office."""

    camera: str
    segment_id: int
    start_ms: int
    chain_sha256: str

    def to_json(self) -> dict[str, Any]:
        """`{camera, segment_id, start, chain_sha256}`."""
        return {
            "camera": self.camera,
            "segment_id": self.segment_id,
            "start": format_ms(self.start_ms),
            "chain_sha256": self.chain_sha256,
        }


def chain_head(conn: sqlite3.Connection, camera: str) -> ChainHead | None:
    """The camera's newest chained entry (live or deleted), or None before its first."""
    row = conn.execute(
        "SELECT id, start_ms, chain_sha256 FROM (SELECT id, start_ms, chain_sha256 FROM"
        " segments WHERE camera = ? AND chain_sha256 IS NOT NULL ORDER BY id DESC LIMIT 1)"
        " UNION ALL SELECT * FROM (SELECT segment_id, start_ms, chain_sha256 FROM"
        " segment_tombstones WHERE camera = ? AND chain_sha256 IS NOT NULL"
        " ORDER BY segment_id DESC LIMIT 1) ORDER BY 1 DESC LIMIT 1",
        (camera, camera),
    ).fetchone()
    return ChainHead(camera, row[0], row[1], row[2]) if row else None


def note_manifest_head(conn: sqlite3.Connection, head: ChainHead, now_ms: int) -> None:
    """Remember the head a signed manifest reaches, for the next status reports."""
    conn.execute(
        "INSERT OR IGNORE INTO manifest_heads (camera, segment_id, chain_sha256, start_ms,"
        " created_at_ms) VALUES (?, ?, ?, ?, ?)",
        (head.camera, head.segment_id, head.chain_sha256, head.start_ms, now_ms),
    )
    conn.execute(
        "DELETE FROM manifest_heads WHERE created_at_ms < ?", (now_ms - MANIFEST_HEADS_KEPT_MS,)
    )


def note_reported_heads(conn: sqlite3.Connection, heads: list[dict[str, Any]], now_ms: int) -> None:
    """Remember the heads a status report carries (call in the report's transaction)."""
    conn.executemany(
        "INSERT OR IGNORE INTO reported_heads (camera, segment_id, reported_at_ms)"
        " VALUES (?, ?, ?)",
        [(head["camera"], head["segment_id"], now_ms) for head in heads],
    )
    conn.execute(
        "DELETE FROM reported_heads WHERE reported_at_ms < ?", (now_ms - REPORTED_HEADS_KEPT_MS,)
    )


def first_reported_head(conn: sqlite3.Connection, camera: str, segment_id: int) -> int | None:
    """The first segment id at or after `segment_id` whose head went out in a report."""
    row = conn.execute(
        "SELECT min(segment_id) FROM reported_heads WHERE camera = ? AND segment_id >= ?",
        (camera, segment_id),
    ).fetchone()
    return int(row[0]) if row and row[0] is not None else None


def report_heads(conn: sqlite3.Connection, cameras: list[str], now_ms: int) -> list[ChainHead]:
    """What a status report anchors: each camera's head, and the heads of recent manifests.

    A clip exported between two reports reaches a head the next report would not name
    (more segments closed meanwhile); re-sending manifest heads for a while lets head
    office anchor it (docs/design/evidence.md, invariant 4).
    """
    heads = [head for camera in cameras if (head := chain_head(conn, camera))]
    rows = conn.execute(
        "SELECT camera, segment_id, start_ms, chain_sha256 FROM manifest_heads"
        " WHERE created_at_ms >= ? ORDER BY created_at_ms DESC LIMIT ?",
        (now_ms - MANIFEST_HEADS_SENT_MS, MANIFEST_HEADS_SENT_MAX),
    )
    seen = {(head.camera, head.segment_id) for head in heads}
    heads += [ChainHead(*row) for row in rows if (row[0], row[1]) not in seen]
    return heads


def chain_tip(conn: sqlite3.Connection, camera: str) -> str:
    """The chain value a camera's next segment links to (deleted segments included).

    Without the tombstones a camera whose newest segments were all deleted would restart
    from genesis, and `verify` would call that a broken link.
    """
    head = chain_head(conn, camera)
    return head.chain_sha256 if head else CHAIN_GENESIS


def link_before(conn: sqlite3.Connection, camera: str, segment_id: int) -> str | None:
    """The chain value the entry `segment_id` links to; None when it is no longer known."""
    row = conn.execute(
        "SELECT * FROM (SELECT id, chain_sha256 FROM segments WHERE camera = ?"
        " AND chain_sha256 IS NOT NULL AND id < ? ORDER BY id DESC LIMIT 1) UNION ALL"
        " SELECT * FROM (SELECT segment_id, chain_sha256 FROM segment_tombstones"
        " WHERE camera = ? AND chain_sha256 IS NOT NULL AND segment_id < ?"
        " ORDER BY segment_id DESC LIMIT 1) ORDER BY 1 DESC LIMIT 1",
        (camera, segment_id, camera, segment_id),
    ).fetchone()
    if row is not None:
        return str(row[1])
    older = conn.execute(
        "SELECT 1 FROM segments WHERE camera = ? AND id < ? LIMIT 1", (camera, segment_id)
    ).fetchone()
    # Nothing older, live or deleted: this is the camera's first segment.
    return None if older else CHAIN_GENESIS


def _deleted_spans(
    conn: sqlite3.Connection, camera: str, gap: Gap
) -> list[tuple[int, int, str, int]]:
    """(start, end, reason, deleted_at) of the janitor's deletions inside `gap`, joined."""
    rows = conn.execute(
        "SELECT max(start_ms, ?), min(end_ms, ?), reason, deleted_at_ms FROM segment_tombstones"
        " WHERE camera = ? AND start_ms < ? AND end_ms > ? ORDER BY start_ms",
        (gap.start_ms, gap.end_ms, camera, gap.end_ms, gap.start_ms),
    )
    spans: list[tuple[int, int, str, int]] = []
    for start, end, reason, deleted_at in rows:
        if spans and spans[-1][2] == reason and start - spans[-1][1] <= CONTINUITY_TOLERANCE_MS:
            last = spans[-1]
            spans[-1] = (last[0], max(last[1], end), reason, max(last[3], deleted_at))
        else:
            spans.append((start, end, reason, deleted_at))
    return spans


def explain_deleted(conn: sqlite3.Connection, camera: str, gaps: list[Gap]) -> list[Gap]:
    """Gaps split where the janitor deleted the video, those parts named for it.

    Coverage only knows the recorder's runs, so a stretch deleted around protected
    evidence would read as "not recording"; its tombstones say what happened.
    """
    explained: list[Gap] = []
    for gap in gaps:
        cursor = gap.start_ms
        for start, end, reason, deleted_at in _deleted_spans(conn, camera, gap):
            if start - cursor > CONTINUITY_TOLERANCE_MS:
                explained.append(Gap(cursor, start, gap.reason))
            explained.append(
                Gap(max(cursor, start), end, f"deleted by {reason} at {format_ms(deleted_at)}")
            )
            cursor = max(cursor, end)
        if gap.end_ms - cursor > CONTINUITY_TOLERANCE_MS:
            explained.append(Gap(cursor, gap.end_ms, gap.reason))
    return explained


# -- verification ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Finding:
    """One line of `nvrctl recordings verify`: a problem (evidence altered or lost) or a note."""

    path: str
    text: str


@dataclass
class _DeletedRun:
    """Consecutive tombstones of one reason: one note, not one line per segment."""

    first: ChainEntry
    last: ChainEntry
    count: int = 1

    def finding(self) -> Finding:
        first_at = format_ms(self.first.deleted_at_ms or 0)
        if self.count == 1:
            text = f"deleted by {self.first.deleted_reason} at {first_at} (hash and link kept)"
            return Finding(self.first.path, text)
        last_at = format_ms(self.last.deleted_at_ms or 0)
        text = (
            f"{self.count} segments deleted by {self.first.deleted_reason} at {first_at}"
            + (f" .. {last_at}" if last_at != first_at else "")
            + " (hashes and links kept)"
        )
        return Finding(f"{self.first.path} .. {self.last.path}", text)


@dataclass
class ChainReport:
    """What `verify_chain` found for one camera."""

    camera: str
    checked: int = 0
    deleted: int = 0
    quarantined: int = 0
    problems: list[Finding] = field(default_factory=list)
    notes: list[Finding] = field(default_factory=list)
    _run: _DeletedRun | None = None  # the tombstones just before this entry

    def note_deleted(self, entry: ChainEntry) -> None:
        """Count a tombstone, joining it to the run of the same reason before it."""
        self.deleted += 1
        run = self._run
        if run is not None and run.first.deleted_reason == entry.deleted_reason:
            run.last, run.count = entry, run.count + 1
            self.notes[-1] = run.finding()
            return
        self._run = _DeletedRun(entry, entry)
        self.notes.append(self._run.finding())

    def end_run(self) -> None:
        """A kept entry: the next tombstone starts a new note."""
        self._run = None


def _check_file(recordings_dir: Path, entry: ChainEntry, report: ChainReport) -> None:
    """A kept row's file must exist and still hash to the indexed value."""
    file = recordings_dir / entry.path
    if entry.status == "missing" or not file.exists():
        report.problems.append(
            Finding(entry.path, "file missing: gone without a deletion by the janitor")
        )
    elif file_sha256(file) != entry.sha256:
        report.problems.append(
            Finding(entry.path, "content altered: sha256 differs from the index")
        )


def _check_entry(
    recordings_dir: Path, entry: ChainEntry, previous: str | None, report: ChainReport
) -> None:
    if entry.chained and previous is not None:
        assert entry.chain_sha256 is not None
        if chain_hash(previous, entry.sha256) != entry.chain_sha256:
            report.problems.append(
                Finding(entry.path, "chain link broken: index rows were altered or removed")
            )
    if not entry.kept:
        report.note_deleted(entry)
        return
    report.end_run()
    if entry.status == "quarantined":
        report.quarantined += 1
        report.notes.append(Finding(entry.path, "quarantined: unreadable when indexed"))
    report.checked += 1
    _check_file(recordings_dir, entry, report)


def verify_chain(conn: sqlite3.Connection, recordings_dir: Path, camera: str) -> ChainReport:
    """Recompute every kept segment's hash and every link, deleted segments included.

    The oldest entry's link is trusted (retention removes the old end, tombstones too);
    every later link must follow from it. A quarantined row indexed without a link is
    outside the chain: its hash is checked, the chain goes on from the entry before it.
    """
    report = ChainReport(camera)
    previous: str | None = None
    for entry in chain_entries(conn, camera):
        _check_entry(recordings_dir, entry, previous, report)
        if entry.chained:
            previous = entry.chain_sha256
    return report
