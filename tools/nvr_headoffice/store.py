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

import bisect
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
from nvr_headoffice.errors import DatabaseError
from nvr_headoffice.summary import camera_days, status_summary
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
    # (fleet-pg) the fleet page and scale-out (docs/design/headoffice.md, invariants 10, 11).
    """
    -- The newest status report of each site and its headline (summary.StatusSummary
    -- without the camera lines), kept in the transaction that stores it: the fleet page
    -- sorts and filters a thousand sites from this one row each, never from the reports.
    ALTER TABLE sites ADD COLUMN latest_status_id TEXT;
    ALTER TABLE sites ADD COLUMN latest_status_seq INTEGER;
    ALTER TABLE sites ADD COLUMN status_headline_json TEXT;
    -- The last heartbeat per site, in the database so every worker answers alike.
    CREATE TABLE heartbeats (
        site_id        TEXT    PRIMARY KEY,
        received_at_ms INTEGER NOT NULL,
        body_json      TEXT    NOT NULL
    );
    -- Each camera's percent recorded per UTC day, summed over the day's status reports.
    CREATE TABLE camera_days (
        site_id     TEXT             NOT NULL,
        camera      TEXT             NOT NULL,
        day         TEXT             NOT NULL,
        percent_sum DOUBLE PRECISION NOT NULL,
        samples     INTEGER          NOT NULL,
        PRIMARY KEY (site_id, camera, day)
    );
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)
# Reports per multi-row INSERT: 7 values each stays far below SQLite's 32,766 and
# PostgreSQL's 65,535 bound parameters; a site's batch (500 at most) is one statement.
INSERT_CHUNK = 1_000


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


@dataclass(frozen=True)
class FleetRow:
    """What the fleet page sorts and filters a site by: a few numbers, no report body."""

    site_id: str
    last_report_at_ms: int | None
    missing: int
    announced_dropped: int
    headline: dict[str, Any] | None  # summary.StatusSummary.headline() of the newest status


@dataclass(frozen=True)
class CameraDay:
    """A camera's mean percent recorded over one UTC day, from `samples` status reports."""

    camera: str
    day: str
    percent: float
    samples: int


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
        try:
            backfill_status(engine)
        except engine.errors as err:
            raise DatabaseError(f"database {engine.name}: {err}") from err
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
        """Store the new reports of one request; count the ids seen before as duplicates.

        A batch costs a handful of statements, not several per report (a 500-report
        catch-up on PostgreSQL pays a round trip for each): one multi-row INSERT says which
        ids were new, the gaps are placed in memory and written once, and the per-report
        rows (evidence, announced drops, camera days) go in one executemany each
        (docs/design/headoffice.md, "Storing a batch").
        """
        with self.engine.transaction() as conn:
            bounds = _bounds(conn, site_id, self.engine.lock_site)
            new = _insert_new(conn, envelopes, received_ms)
            reused = _place_seqs(conn, site_id, [envelope.seq for envelope in new], bounds)
            evidence.note_evidence(
                conn, site_id, [(envelope.id, envelope.body) for envelope in new], received_ms
            )
            _note_announced_drops(conn, new)
            statuses = [envelope for envelope in new if envelope.kind == KIND_STATUS]
            _note_camera_days(conn, site_id, statuses)
            if statuses:
                # The highest seq; of equal ones the last sent, as one-by-one placing did.
                newest = max(reversed(statuses), key=lambda envelope: envelope.seq)
                _note_status(conn, site_id, newest.id, newest.seq, newest.body)
            duplicates = len(envelopes) - len(new)
            conn.execute(
                "UPDATE sites SET reports = reports + ?, duplicates = duplicates + ?,"
                " seq_reused = seq_reused + ?, first_seq = ?, last_seq = ?,"
                " last_report_at_ms = coalesce(?, last_report_at_ms) WHERE site_id = ?",
                (
                    len(new),
                    duplicates,
                    reused,
                    bounds.first,
                    bounds.last,
                    received_ms if new else None,
                    site_id,
                ),
            )
            kinds = Counter(envelope.kind for envelope in new)
            conn.executemany(
                "INSERT INTO site_kinds (site_id, kind, reports) VALUES (?, ?, ?)"
                " ON CONFLICT (site_id, kind) DO UPDATE"
                " SET reports = site_kinds.reports + excluded.reports",
                [(site_id, kind, count) for kind, count in kinds.items()],
            )
        return Stored(len(new), duplicates, tuple(envelope.seq for envelope in new))

    # -- heartbeats -------------------------------------------------------------------------
    def note_heartbeat(self, site_id: str, received_ms: int, body: dict[str, Any]) -> int | None:
        """Keep a site's last heartbeat; return when the one before it came (None: first)."""
        with self.engine.transaction() as conn:
            row = conn.execute(
                f"SELECT received_at_ms FROM heartbeats WHERE site_id = ?{self.engine.lock_site}",
                (site_id,),
            ).fetchone()
            conn.execute(
                "INSERT INTO heartbeats (site_id, received_at_ms, body_json) VALUES (?, ?, ?)"
                " ON CONFLICT (site_id) DO UPDATE SET received_at_ms = excluded.received_at_ms,"
                " body_json = excluded.body_json",
                (site_id, received_ms, json.dumps(body, separators=(",", ":"), sort_keys=True)),
            )
        return None if row is None else int(row[0])

    def heartbeats(self) -> dict[str, tuple[int, dict[str, Any]]]:
        """Site -> (received_at_ms, body) of its last heartbeat."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                "SELECT site_id, received_at_ms, body_json FROM heartbeats ORDER BY site_id"
            ).fetchall()
        return {row[0]: (row[1], json.loads(row[2])) for row in rows}

    def heartbeat_times(self, site_id: str | None = None) -> dict[str, int]:
        """Site -> received_at_ms of its last heartbeat, of one site or all (no bodies)."""
        where, params = _sites_in("site_id", () if site_id is None else (site_id,))
        with self.engine.connect() as conn:
            rows = conn.execute(
                f"SELECT site_id, received_at_ms FROM heartbeats WHERE 1 = 1{where}", params
            ).fetchall()
        return {row[0]: row[1] for row in rows}

    # -- reading ---------------------------------------------------------------------------
    def site_ids(self) -> list[str]:
        """Every site that has reported at least once."""
        with self.engine.connect() as conn:
            rows = conn.execute("SELECT site_id FROM sites ORDER BY site_id").fetchall()
            return [row[0] for row in rows]

    def has_site(self, site_id: str) -> bool:
        """The site has reported at least once."""
        with self.engine.connect() as conn:
            row = conn.execute("SELECT 1 FROM sites WHERE site_id = ?", (site_id,)).fetchone()
        return row is not None

    def fleet(self) -> list[FleetRow]:
        """Every site that reported, as the fleet page sorts it: three queries in all."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                "SELECT site_id, last_report_at_ms, status_headline_json FROM sites"
            ).fetchall()
            missing, announced = _missing(conn, ())
        return [
            FleetRow(
                site_id=row[0],
                last_report_at_ms=row[1],
                missing=missing.get(row[0], 0),
                announced_dropped=announced.get(row[0], 0),
                headline=None if row[2] is None else json.loads(row[2]),
            )
            for row in rows
        ]

    def summary(self, site_id: str, max_gaps: int) -> SiteSummary:
        """Counters, gaps (the first `max_gaps` ranges), latest status and kinds of a site."""
        return self.summaries([site_id], max_gaps).get(site_id) or SiteSummary(site_id)

    def summaries(
        self, site_ids: Sequence[str] | None, max_gaps: int, *, bodies: bool = True
    ) -> dict[str, SiteSummary]:
        """`summary` of each of `site_ids` (None: of every site) in six queries, not 6 x N.

        `bodies=False` leaves out the latest status reports (the overview shows their
        headline, which FleetRow already carries).
        """
        if site_ids is not None and not site_ids:
            return {}
        ids = () if site_ids is None else tuple(site_ids)
        where, params = _sites_in("site_id", ids)
        with self.engine.connect() as conn:
            rows = conn.execute(
                "SELECT site_id, reports, duplicates, seq_reused, first_seq, last_seq,"
                f" last_report_at_ms FROM sites WHERE 1 = 1{where}",
                params,
            ).fetchall()
            missing, announced = _missing(conn, ids)
            gaps = _gap_lists(conn, ids, max_gaps)
            kinds: dict[str, dict[str, int]] = {}
            for site, kind, count in conn.execute(
                f"SELECT site_id, kind, reports FROM site_kinds WHERE 1 = 1{where}"
                " ORDER BY site_id, kind",
                params,
            ).fetchall():
                kinds.setdefault(site, {})[kind] = count
            latest = _latest_statuses(conn, ids) if bodies else {}
        return {
            row[0]: SiteSummary(
                site_id=row[0],
                reports=row[1],
                duplicates=row[2],
                seq_reused=row[3],
                first_seq=row[4],
                last_seq=row[5],
                missing=missing.get(row[0], 0),
                announced_dropped=announced.get(row[0], 0),
                gaps=gaps.get(row[0], []),
                last_report_at_ms=row[6],
                latest_status=latest.get(row[0]),
                latest_kinds=kinds.get(row[0], {}),
            )
            for row in rows
        }

    def camera_days(self, site_id: str, since_day: str) -> list[CameraDay]:
        """Each camera's mean percent recorded per day from `since_day` (UTC, inclusive)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                "SELECT camera, day, percent_sum, samples FROM camera_days"
                " WHERE site_id = ? AND day >= ? ORDER BY camera, day",
                (site_id, since_day),
            ).fetchall()
        return [CameraDay(row[0], row[1], row[2] / row[3], row[3]) for row in rows]

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


def _insert_new(conn: Conn, envelopes: Sequence[Envelope], received_ms: int) -> list[Envelope]:
    """Insert the reports; the new ones, in request order.

    An id stored before, or earlier in this request, is a duplicate. One INSERT ...
    RETURNING per INSERT_CHUNK reports says which ids were new.
    """
    first_of_id: dict[str, Envelope] = {}
    for envelope in envelopes:
        first_of_id.setdefault(envelope.id, envelope)
    unique = list(first_of_id.values())
    inserted: set[str] = set()
    for start in range(0, len(unique), INSERT_CHUNK):
        chunk = unique[start : start + INSERT_CHUNK]
        rows = conn.execute(
            "INSERT INTO reports (id, site_id, seq, kind, created_at, received_at_ms, body_json)"
            f" VALUES {', '.join(['(?, ?, ?, ?, ?, ?, ?)'] * len(chunk))}"
            " ON CONFLICT DO NOTHING RETURNING id",
            [value for envelope in chunk for value in _report_row(envelope, received_ms)],
        ).fetchall()
        inserted.update(row[0] for row in rows)
    return [envelope for envelope in unique if envelope.id in inserted]


def _report_row(envelope: Envelope, received_ms: int) -> tuple[Any, ...]:
    return (
        envelope.id,
        envelope.site_id,
        envelope.seq,
        envelope.kind,
        envelope.created_at,
        received_ms,
        json.dumps(envelope.body, separators=(",", ":"), sort_keys=True),
    )


@dataclass
class _Gaps:
    """Gap ranges of one site being placed in memory: from_seq -> to_seq, and sorted starts."""

    ends: dict[int, int]
    starts: list[int] = field(init=False)

    def __post_init__(self) -> None:
        self.starts = sorted(self.ends)

    def add(self, start: int, end: int) -> None:
        if start <= end:
            self.ends[start] = end
            bisect.insort(self.starts, start)

    def take(self, seq: int) -> bool:
        """Split the gap holding `seq` around it; False if no gap holds it."""
        index = bisect.bisect_right(self.starts, seq) - 1
        if index < 0 or self.ends[self.starts[index]] < seq:
            return False
        start = self.starts.pop(index)
        end = self.ends.pop(start)
        self.add(start, seq - 1)
        self.add(seq + 1, end)
        return True


def _place_seqs(conn: Conn, site_id: str, seqs: Sequence[int], bounds: _Bounds) -> int:
    """Move the bounds and split the gaps for the new seqs; how many were already stored.

    Invariant 4: the gaps are exactly the seqs in [first_seq, last_seq] with no report.
    The gaps a seq can fall in are read in one query, placed in memory, and only the ranges
    that changed are written back (deleted before inserted: a shrunk range keeps its start).
    """
    first, last = bounds.first, bounds.last
    inside = [] if first is None or last is None else [s for s in seqs if first <= s <= last]
    before: dict[int, int] = {}
    if inside:
        rows = conn.execute(
            "SELECT from_seq, to_seq FROM gaps WHERE site_id = ? AND from_seq <= ? AND to_seq >= ?",
            (site_id, max(inside), min(inside)),
        ).fetchall()
        before = {int(row[0]): int(row[1]) for row in rows}
    gaps = _Gaps(dict(before))
    reused = sum(not _place_seq(gaps, seq, bounds) for seq in seqs)
    conn.executemany(
        "DELETE FROM gaps WHERE site_id = ? AND from_seq = ?",
        [(site_id, start) for start, end in before.items() if gaps.ends.get(start) != end],
    )
    conn.executemany(
        "INSERT INTO gaps (site_id, from_seq, to_seq) VALUES (?, ?, ?)",
        [(site_id, start, end) for start, end in gaps.ends.items() if before.get(start) != end],
    )
    return reused


def _place_seq(gaps: _Gaps, seq: int, bounds: _Bounds) -> bool:
    """Place one seq in memory; False if `seq` was already stored."""
    if bounds.first is None or bounds.last is None:
        bounds.first = bounds.last = seq
        return True
    if seq > bounds.last:
        gaps.add(bounds.last + 1, seq - 1)
        bounds.last = seq
        return True
    if seq < bounds.first:
        gaps.add(seq + 1, bounds.first - 1)
        bounds.first = seq
        return True
    # Inside the bounds: stored already unless a gap holds it.
    return gaps.take(seq)


# Alarm events announcing seqs that will never arrive, and the body key listing them.
ANNOUNCED_RANGES = {OVERFLOW_EVENT: "dropped_seqs", STATE_RESTORED_EVENT: "skipped_seqs"}


def _note_announced_drops(conn: Conn, envelopes: Sequence[Envelope]) -> None:
    """Remember seq ranges the sites announced will never arrive.

    An `outbox_overflow` alarm lists what it dropped; a `state_restored` one what it
    skipped (a restored state file jumps its seq past any used since its backup).
    """
    conn.executemany(
        "INSERT INTO announced_drops (site_id, from_seq, to_seq, report_id) VALUES (?, ?, ?, ?)",
        [row for envelope in envelopes for row in _announced_ranges(envelope)],
    )


def _announced_ranges(envelope: Envelope) -> list[tuple[str, int, int, str]]:
    body = envelope.body
    key = ANNOUNCED_RANGES.get(str(body.get("event")))
    if envelope.kind not in EVENT_KINDS or key is None:
        return []
    ranges = body.get(key)
    if not isinstance(ranges, list):
        return []
    return [
        (envelope.site_id, pair[0], pair[1], envelope.id)
        for pair in ranges
        if isinstance(pair, list)
        and len(pair) == 2
        and all(type(seq) is int for seq in pair)
        and 1 <= pair[0] <= pair[1]
    ]


def _sites_in(column: str, site_ids: Sequence[str]) -> tuple[str, list[Any]]:
    """` AND <column> IN (?, ...)` for these sites, or nothing for every site."""
    if not site_ids:
        return "", []
    return f" AND {column} IN ({', '.join('?' * len(site_ids))})", list(site_ids)


def _missing(conn: Conn, site_ids: Sequence[str]) -> tuple[dict[str, int], dict[str, int]]:
    """Per site (of `site_ids`, or all): seqs missing, and of those announced as dropped."""
    where, params = _sites_in("site_id", site_ids)
    missing = conn.execute(
        f"SELECT site_id, sum(to_seq - from_seq + 1) FROM gaps WHERE 1 = 1{where} GROUP BY site_id",
        params,
    ).fetchall()
    where, params = _sites_in("g.site_id", site_ids)
    announced = conn.execute(
        "SELECT g.site_id, sum(CASE WHEN g.to_seq < d.to_seq THEN g.to_seq ELSE d.to_seq END"
        " - CASE WHEN g.from_seq > d.from_seq THEN g.from_seq ELSE d.from_seq END + 1)"
        " FROM gaps g JOIN announced_drops d ON d.site_id = g.site_id"
        f" AND d.from_seq <= g.to_seq AND d.to_seq >= g.from_seq WHERE 1 = 1{where}"
        " GROUP BY g.site_id",
        params,
    ).fetchall()
    missing_by_site = {site: int(count) for site, count in missing}
    # A site announces each dropped seq once; the clamp guards against one that did not.
    return missing_by_site, {
        site: min(int(count), missing_by_site.get(site, 0)) for site, count in announced
    }


def _gap_lists(conn: Conn, site_ids: Sequence[str], max_gaps: int) -> dict[str, list[list[int]]]:
    """The first `max_gaps` gap ranges of each site, in one query (a window function)."""
    where, params = _sites_in("site_id", site_ids)
    rows = conn.execute(
        "SELECT site_id, from_seq, to_seq FROM (SELECT site_id, from_seq, to_seq,"
        " row_number() OVER (PARTITION BY site_id ORDER BY from_seq) AS n"
        f" FROM gaps WHERE 1 = 1{where}) AS listed WHERE n <= ? ORDER BY site_id, from_seq",
        (*params, max_gaps),
    ).fetchall()
    gaps: dict[str, list[list[int]]] = {}
    for site, start, end in rows:
        gaps.setdefault(site, []).append([start, end])
    return gaps


def _latest_statuses(conn: Conn, site_ids: Sequence[str]) -> dict[str, StoredReport]:
    """The newest status report of each site, through `sites.latest_status_id` (invariant 10)."""
    where, params = _sites_in("s.site_id", site_ids)
    rows = conn.execute(
        "SELECT r.site_id, r.seq, r.id, r.kind, r.created_at, r.received_at_ms, r.body_json"
        f" FROM sites s JOIN reports r ON r.id = s.latest_status_id WHERE 1 = 1{where}",
        params,
    ).fetchall()
    return {r[0]: StoredReport(r[1], r[2], r[3], r[4], r[5], json.loads(r[6])) for r in rows}


def _note_status(conn: Conn, site_id: str, report_id: str, seq: int, body: dict[str, Any]) -> None:
    """Make this the site's newest status unless a higher seq is stored (invariant 10)."""
    headline = json.dumps(status_summary(body).headline(), separators=(",", ":"))
    conn.execute(
        "UPDATE sites SET latest_status_id = ?, latest_status_seq = ?, status_headline_json = ?"
        " WHERE site_id = ? AND (latest_status_seq IS NULL OR latest_status_seq <= ?)",
        (report_id, seq, headline, site_id, seq),
    )


def _note_camera_days(conn: Conn, site_id: str, statuses: Sequence[Envelope]) -> None:
    """Add the status reports' percents to their camera days: one row per camera and day."""
    sums: dict[tuple[str, str], list[float]] = {}
    for envelope in statuses:
        for camera, day, percent in camera_days(envelope.body, envelope.created_at):
            total = sums.setdefault((camera, day), [0.0, 0])
            total[0] += percent
            total[1] += 1
    conn.executemany(
        "INSERT INTO camera_days (site_id, camera, day, percent_sum, samples)"
        " VALUES (?, ?, ?, ?, ?) ON CONFLICT (site_id, camera, day) DO UPDATE"
        " SET percent_sum = camera_days.percent_sum + excluded.percent_sum,"
        " samples = camera_days.samples + excluded.samples",
        [
            (site_id, camera, day, total, int(count))
            for (camera, day), (total, count) in sums.items()
        ],
    )


def backfill_status(engine: Engine) -> int:
    """Fill `sites.latest_status_*` of a database migrated from before them; sites filled."""
    with engine.transaction() as conn:
        sites = conn.execute(
            "SELECT site_id FROM sites s WHERE latest_status_seq IS NULL AND EXISTS"
            " (SELECT 1 FROM reports r WHERE r.site_id = s.site_id AND r.kind = ?)",
            (KIND_STATUS,),
        ).fetchall()
        for (site_id,) in sites:
            newest = _select_reports(conn, site_id, kinds=(KIND_STATUS,), limit=1, newest=True)
            _note_status(conn, site_id, newest[0].id, newest[0].seq, newest[0].body)
    return len(sites)


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
