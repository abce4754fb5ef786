"""The report database, owned by this module (schema, migrations, the SQL of every step).

Written once for both engines (nvr_headoffice.engines: SQLite embedded, PostgreSQL at fleet
scale); the engine supplies connections, placeholders and locking, never its own logic.
A 200 means committed (docs/design/headoffice.md, invariant 2): a request's reports,
counters and gap ranges are committed in one transaction before the answer is sent.
Each call takes its own connection (SQLite: a new one; PostgreSQL: one from the pool), so
the WSGI threads never share one.

Gaps are kept incrementally (table `gaps`, invariant 4): a page with thousands of sites
must not scan every report of every site to say what is missing.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from nvr.core.manifest import Verdict
from nvr.core.timeutil import format_ms
from nvr_headoffice import evidence
from nvr_headoffice.constants import (
    EVENT_KINDS,
    KIND_STATUS,
    OVERFLOW_EVENT,
    STATE_RESTORED_EVENT,
)
from nvr_headoffice.engines import Conn, Engine, open_engine
from nvr_headoffice.verify import Envelope

# Each entry migrates from version N (its index) to N+1. Append only once released.
MIGRATIONS: tuple[str, ...] = (
    """
    -- One row per site that ever reported: counters kept in the insert transaction.
    CREATE TABLE sites (
        site_id           TEXT    PRIMARY KEY,
        reports           INTEGER NOT NULL DEFAULT 0,  -- stored (new ids)
        duplicates        INTEGER NOT NULL DEFAULT 0,  -- ids received again, not stored
        seq_reused        INTEGER NOT NULL DEFAULT 0,  -- new ids with a seq already stored
        first_seq         INTEGER,
        last_seq          INTEGER,
        last_report_at_ms INTEGER                      -- receive time of the newest stored
    );
    -- The report id is the dedupe key (the site's Idempotency-Key).
    CREATE TABLE reports (
        id             TEXT    PRIMARY KEY,
        site_id        TEXT    NOT NULL,
        seq            INTEGER NOT NULL,
        kind           TEXT    NOT NULL,
        created_at     TEXT    NOT NULL,  -- verbatim from the site (RFC 3339 UTC)
        received_at_ms INTEGER NOT NULL,
        body_json      TEXT    NOT NULL
    );
    CREATE INDEX reports_site_seq ON reports (site_id, seq);
    CREATE INDEX reports_site_kind_seq ON reports (site_id, kind, seq);
    -- Missing seqs in [first_seq, last_seq], as disjoint inclusive ranges.
    CREATE TABLE gaps (
        site_id  TEXT    NOT NULL,
        from_seq INTEGER NOT NULL,
        to_seq   INTEGER NOT NULL,
        PRIMARY KEY (site_id, from_seq)
    );
    CREATE TABLE site_kinds (
        site_id TEXT    NOT NULL,
        kind    TEXT    NOT NULL,
        reports INTEGER NOT NULL,
        PRIMARY KEY (site_id, kind)
    );
    -- Seq ranges a site announced as dropped by its full outbox (outbox.md, invariant 5).
    CREATE TABLE announced_drops (
        site_id   TEXT    NOT NULL,
        from_seq  INTEGER NOT NULL,
        to_seq    INTEGER NOT NULL,
        report_id TEXT    NOT NULL
    );
    CREATE INDEX announced_drops_site ON announced_drops (site_id, from_seq);
    """,
    # (evidence-chain) site keys and chain heads from status reports.
    evidence.MIGRATION,
)
SCHEMA_VERSION = len(MIGRATIONS)


@dataclass(frozen=True)
class Stored:
    """What one POST did: new reports stored, duplicates counted, the new seqs."""

    accepted: int
    duplicates: int
    seqs: tuple[int, ...]


@dataclass(frozen=True)
class StoredReport:
    """A report as the API and the pages show it."""

    seq: int
    id: str
    kind: str
    created_at: str
    received_at_ms: int
    body: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        """`{seq, id, kind, created_at, received_at, body}`."""
        return {
            "seq": self.seq,
            "id": self.id,
            "kind": self.kind,
            "created_at": self.created_at,
            "received_at": format_ms(self.received_at_ms),
            "body": self.body,
        }


@dataclass(frozen=True)
class SiteSummary:
    """One site as GET /api/sites and the overview page show it."""

    site_id: str
    reports: int = 0
    duplicates: int = 0
    seq_reused: int = 0
    first_seq: int | None = None
    last_seq: int | None = None
    missing: int = 0
    announced_dropped: int = 0  # of `missing`, seqs the site said its outbox dropped
    gaps: list[list[int]] = field(default_factory=list)
    last_report_at_ms: int | None = None
    latest_status: StoredReport | None = None
    latest_kinds: dict[str, int] = field(default_factory=dict)

    @property
    def unexplained_missing(self) -> int:
        """Missing seqs nobody announced: the reports that may really be lost."""
        return self.missing - self.announced_dropped

    def to_json(self) -> dict[str, Any]:
        """The GET /api/sites element."""
        status = self.latest_status
        return {
            "site_id": self.site_id,
            "reports": self.reports,
            "duplicates": self.duplicates,
            "seq_reused": self.seq_reused,
            "first_seq": self.first_seq,
            "last_seq": self.last_seq,
            "missing": self.missing,
            "announced_dropped": self.announced_dropped,
            "gaps": self.gaps,
            "last_report_at": _format(self.last_report_at_ms),
            "latest_status": None
            if status is None
            else {"seq": status.seq, "created_at": status.created_at, "body": status.body},
            "latest_kinds": self.latest_kinds,
        }


def _format(ms: int | None) -> str | None:
    return format_ms(ms) if ms is not None else None


@dataclass
class _Bounds:
    """A site's [first_seq, last_seq] while a transaction places new seqs."""

    first: int | None
    last: int | None


class ReportStore:
    """The report database; safe to share between threads (each call has its own connection)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def open(
        cls, database: str | os.PathLike[str], application_name: str = "nvr-headoffice"
    ) -> ReportStore:
        """Create or migrate the database (a path or URL); DatabaseError names it in one line."""
        engine = open_engine(os.fspath(database), application_name)
        engine.migrate(MIGRATIONS)
        return cls(engine)

    @property
    def name(self) -> str:
        """The database as logs may show it (a path, or a URL without its password)."""
        return self.engine.name

    def close(self) -> None:
        """Release the engine's connections."""
        self.engine.close()

    # -- writing ---------------------------------------------------------------------------
    def store(self, site_id: str, envelopes: Sequence[Envelope], received_ms: int) -> Stored:
        """Store the new reports of one request; count the ids seen before as duplicates."""
        seqs: list[int] = []
        kinds: Counter[str] = Counter()
        reused = 0
        with self.engine.transaction() as conn:
            bounds = _bounds(conn, site_id, self.engine.lock_site)
            for envelope in envelopes:
                if not _insert(conn, envelope, received_ms):
                    continue
                seqs.append(envelope.seq)
                evidence.note_evidence(conn, site_id, envelope.id, envelope.body, received_ms)
                kinds[envelope.kind] += 1
                reused += not _place_seq(conn, site_id, envelope.seq, bounds)
                _note_announced_drops(conn, envelope)
            duplicates = len(envelopes) - len(seqs)
            conn.execute(
                "UPDATE sites SET reports = reports + ?, duplicates = duplicates + ?,"
                " seq_reused = seq_reused + ?, first_seq = ?, last_seq = ?,"
                " last_report_at_ms = coalesce(?, last_report_at_ms) WHERE site_id = ?",
                (
                    len(seqs),
                    duplicates,
                    reused,
                    bounds.first,
                    bounds.last,
                    received_ms if seqs else None,
                    site_id,
                ),
            )
            conn.executemany(
                "INSERT INTO site_kinds (site_id, kind, reports) VALUES (?, ?, ?)"
                " ON CONFLICT (site_id, kind) DO UPDATE"
                " SET reports = site_kinds.reports + excluded.reports",
                [(site_id, kind, count) for kind, count in kinds.items()],
            )
        return Stored(len(seqs), duplicates, tuple(seqs))

    # -- reading ---------------------------------------------------------------------------
    def site_ids(self) -> list[str]:
        """Every site that has reported at least once."""
        with self.engine.connect() as conn:
            rows = conn.execute("SELECT site_id FROM sites ORDER BY site_id").fetchall()
            return [row[0] for row in rows]

    def summary(self, site_id: str, max_gaps: int) -> SiteSummary:
        """Counters, gaps (the first `max_gaps` ranges), latest status and kinds of a site."""
        with self.engine.connect() as conn:
            row = conn.execute(
                "SELECT reports, duplicates, seq_reused, first_seq, last_seq, last_report_at_ms"
                " FROM sites WHERE site_id = ?",
                (site_id,),
            ).fetchone()
            if row is None:
                return SiteSummary(site_id)
            missing, announced = _missing(conn, site_id)
            gaps = conn.execute(
                "SELECT from_seq, to_seq FROM gaps WHERE site_id = ? ORDER BY from_seq LIMIT ?",
                (site_id, max_gaps),
            ).fetchall()
            kinds = conn.execute(
                "SELECT kind, reports FROM site_kinds WHERE site_id = ? ORDER BY kind", (site_id,)
            ).fetchall()
            latest = _select_reports(conn, site_id, kinds=(KIND_STATUS,), limit=1, newest=True)
        return SiteSummary(
            site_id=site_id,
            reports=row[0],
            duplicates=row[1],
            seq_reused=row[2],
            first_seq=row[3],
            last_seq=row[4],
            missing=missing,
            announced_dropped=announced,
            gaps=[[start, end] for start, end in gaps],
            last_report_at_ms=row[5],
            latest_status=latest[0] if latest else None,
            latest_kinds=dict(kinds),
        )

    def verify_clip(self, manifest: Any, clip_sha256: str) -> Verdict:
        """A clip's verdict against the keys and chain heads its site sent."""
        with self.engine.connect() as conn:
            return evidence.verify_clip(conn, manifest, clip_sha256)

    def evidence(self, site_id: str) -> dict[str, Any]:
        """The site's registered keys and newest chain head per camera."""
        with self.engine.connect() as conn:
            return evidence.site_evidence(conn, site_id)

    def reports(
        self,
        site_id: str,
        *,
        after_seq: int = 0,
        kinds: Sequence[str] = (),
        limit: int,
        newest: bool = False,
    ) -> list[StoredReport]:
        """Stored reports of a site in seq order (or newest first), optionally of some kinds."""
        with self.engine.connect() as conn:
            return _select_reports(
                conn, site_id, kinds=kinds, limit=limit, newest=newest, after_seq=after_seq
            )


def _bounds(conn: Conn, site_id: str, lock: str) -> _Bounds:
    """The site's bounds, its row created if new and locked with `lock` (invariant 9)."""
    conn.execute("INSERT INTO sites (site_id) VALUES (?) ON CONFLICT DO NOTHING", (site_id,))
    first, last = conn.execute(
        f"SELECT first_seq, last_seq FROM sites WHERE site_id = ?{lock}", (site_id,)
    ).fetchone()
    return _Bounds(first, last)


def _insert(conn: Conn, envelope: Envelope, received_ms: int) -> bool:
    """Insert one report; False when its id is already stored (a duplicate)."""
    cursor = conn.execute(
        "INSERT INTO reports (id, site_id, seq, kind, created_at, received_at_ms, body_json)"
        " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        (
            envelope.id,
            envelope.site_id,
            envelope.seq,
            envelope.kind,
            envelope.created_at,
            received_ms,
            json.dumps(envelope.body, separators=(",", ":"), sort_keys=True),
        ),
    )
    return cursor.rowcount == 1


def _add_gap(conn: Conn, site_id: str, start: int, end: int) -> None:
    if start <= end:
        conn.execute(
            "INSERT INTO gaps (site_id, from_seq, to_seq) VALUES (?, ?, ?)", (site_id, start, end)
        )


def _place_seq(conn: Conn, site_id: str, seq: int, bounds: _Bounds) -> bool:
    """Move the bounds or split the gap that held `seq`; False if `seq` was already stored.

    Invariant 4: the gaps are exactly the seqs in [first_seq, last_seq] with no report.
    """
    if bounds.first is None or bounds.last is None:
        bounds.first = bounds.last = seq
        return True
    if seq > bounds.last:
        _add_gap(conn, site_id, bounds.last + 1, seq - 1)
        bounds.last = seq
        return True
    if seq < bounds.first:
        _add_gap(conn, site_id, seq + 1, bounds.first - 1)
        bounds.first = seq
        return True
    gap = conn.execute(
        "SELECT from_seq, to_seq FROM gaps WHERE site_id = ? AND from_seq <= ?"
        " ORDER BY from_seq DESC LIMIT 1",
        (site_id, seq),
    ).fetchone()
    if gap is None or gap[1] < seq:
        return False  # inside the bounds and in no gap: this seq is stored already
    conn.execute("DELETE FROM gaps WHERE site_id = ? AND from_seq = ?", (site_id, gap[0]))
    _add_gap(conn, site_id, gap[0], seq - 1)
    _add_gap(conn, site_id, seq + 1, gap[1])
    return True


# Alarm events announcing seqs that will never arrive, and the body key listing them.
ANNOUNCED_RANGES = {OVERFLOW_EVENT: "dropped_seqs", STATE_RESTORED_EVENT: "skipped_seqs"}


def _note_announced_drops(conn: Conn, envelope: Envelope) -> None:
    """Remember seq ranges a site announced will never arrive.

    An `outbox_overflow` alarm lists what it dropped; a `state_restored` one what it
    skipped (a restored state file jumps its seq past any used since its backup).
    """
    body = envelope.body
    key = ANNOUNCED_RANGES.get(str(body.get("event")))
    if envelope.kind not in EVENT_KINDS or key is None:
        return
    ranges = body.get(key)
    if not isinstance(ranges, list):
        return
    rows = [
        (envelope.site_id, pair[0], pair[1], envelope.id)
        for pair in ranges
        if isinstance(pair, list)
        and len(pair) == 2
        and all(type(seq) is int for seq in pair)
        and 1 <= pair[0] <= pair[1]
    ]
    conn.executemany(
        "INSERT INTO announced_drops (site_id, from_seq, to_seq, report_id) VALUES (?, ?, ?, ?)",
        rows,
    )


def _missing(conn: Conn, site_id: str) -> tuple[int, int]:
    """(seqs missing, of which announced as dropped by the site)."""
    missing = conn.execute(
        "SELECT coalesce(sum(to_seq - from_seq + 1), 0) FROM gaps WHERE site_id = ?", (site_id,)
    ).fetchone()[0]
    announced = conn.execute(
        "SELECT coalesce(sum(CASE WHEN g.to_seq < d.to_seq THEN g.to_seq ELSE d.to_seq END"
        " - CASE WHEN g.from_seq > d.from_seq THEN g.from_seq ELSE d.from_seq END + 1), 0)"
        " FROM gaps g JOIN announced_drops d ON d.site_id = g.site_id"
        " AND d.from_seq <= g.to_seq AND d.to_seq >= g.from_seq WHERE g.site_id = ?",
        (site_id,),
    ).fetchone()[0]
    # A site announces each dropped seq once; the clamp guards against one that did not.
    return int(missing), min(int(announced), int(missing))


def _select_reports(
    conn: Conn,
    site_id: str,
    *,
    kinds: Sequence[str],
    limit: int,
    newest: bool,
    after_seq: int = 0,
) -> list[StoredReport]:
    where = "site_id = ? AND seq > ?"
    params: list[Any] = [site_id, after_seq]
    if kinds:
        where += f" AND kind IN ({', '.join('?' * len(kinds))})"
        params.extend(kinds)
    order = "DESC" if newest else "ASC"
    rows = conn.execute(
        "SELECT seq, id, kind, created_at, received_at_ms, body_json FROM reports"
        f" WHERE {where} ORDER BY seq {order}, received_at_ms {order} LIMIT ?",
        (*params, limit),
    ).fetchall()
    return [StoredReport(r[0], r[1], r[2], r[3], r[4], json.loads(r[5])) for r in rows]
