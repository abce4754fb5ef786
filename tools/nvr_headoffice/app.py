"""The Flask app: POST /api/nvr/reports, the JSON views, the pages and /healthz."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

from flask import Flask, Response, abort, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge

from nvr.core.redact import redact_text
from nvr_headoffice import clips, heartbeats
from nvr_headoffice.constants import (
    DEFAULT_REPORTS_LIMIT,
    EVENT_KINDS,
    MAX_BODY_BYTES,
    MAX_GAPS_LISTED,
    MAX_REPORTS_LIMIT,
    MAX_SEQ,
    MAX_SITES_PER_PAGE,
    SITE_PAGE_REPORTS,
    SITES_PER_PAGE,
)
from nvr_headoffice.errors import Refused
from nvr_headoffice.fleet import (
    PROBLEMS,
    Entry,
    FleetQuery,
    Selection,
    Standing,
    is_offline,
    select,
)
from nvr_headoffice.page import (
    SiteView,
    coverage_days,
    render_overview,
    render_site,
    site_view,
)
from nvr_headoffice.sites import LiveSites
from nvr_headoffice.store import FleetRow, ReportStore, SiteSummary
from nvr_headoffice.summary import StatusSummary
from nvr_headoffice.verify import authenticate_request, parse_envelopes, shown

log = logging.getLogger(__name__)

Clock = Callable[[], float]  # wall clock, Unix seconds
# The log line of an accepted batch names at most this many seq ranges.
LOGGED_RANGES = 4
# Any of these makes GET /api/sites answer one page: {"total", "page", ..., "sites": [...]}.
FLEET_PARAMETERS = ("page", "per_page", "problem", "q")
# `?q=` is matched against site ids and names; longer text cannot match either.
MAX_QUERY_CHARS = 200
MAX_PAGE = 1_000_000


def seq_ranges_text(seqs: Sequence[int]) -> str:
    """`101-140` or `3,5,9-12`: the seqs of a batch, short enough for one log line."""
    ranges: list[list[int]] = []
    for seq in sorted(seqs):
        if ranges and seq == ranges[-1][1] + 1:
            ranges[-1][1] = seq
        else:
            ranges.append([seq, seq])
    parts = [f"{a}-{b}" if a != b else str(a) for a, b in ranges[:LOGGED_RANGES]]
    return ",".join(parts) + (",..." if len(ranges) > LOGGED_RANGES else "") or "-"


def _error(status: int, message: str) -> Response:
    """`{"error": "..."}` with the status: one line the site or the operator can act on."""
    response = jsonify({"error": message})
    response.status_code = status
    return response


def _int_arg(name: str, default: int, low: int, high: int) -> int:
    """A query parameter as an int in [low, high]; 400 naming it otherwise."""
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        abort(_error(400, f"{name} must be an integer from {low} to {high}, got {shown(raw)}"))
    return value


class Views:
    """The sites as the JSON views and pages show them: configured ones, and any with data."""

    def __init__(self, store: ReportStore, sites: LiveSites, clock: Clock) -> None:
        self.store = store
        self.sites = sites
        self.clock = clock

    def known(self, site_id: str) -> bool:
        """Configured, or has stored reports (a site removed from the file keeps its data)."""
        return site_id in self.sites.current.sites or self.store.has_site(site_id)

    def _offline(self, last_report_ms: int | None, heartbeat_ms: int | None, now: int) -> bool:
        timeout = self.sites.current.heartbeat_timeout_seconds
        return is_offline(last_report_ms, heartbeat_ms, now, timeout)

    def site(self, site_id: str) -> SiteView:
        """One site, 404 when unknown."""
        if not self.known(site_id):
            abort(_error(404, f"unknown site {shown(site_id)}"))
        summary = self.store.summary(site_id, MAX_GAPS_LISTED)
        now = self.now_ms()
        beat = self.store.heartbeat_times(site_id).get(site_id)
        offline = self._offline(summary.last_report_at_ms, beat, now)
        return site_view(summary, self.sites.current.name(site_id), now, offline)

    def all(self) -> list[SiteView]:
        """Every site, by id, in full (the unpaged GET /api/sites)."""
        sites = self.sites.current
        summaries = self.store.summaries(None, MAX_GAPS_LISTED)
        beats = self.store.heartbeat_times()
        now = self.now_ms()
        views = []
        for site_id in sorted(set(sites.sites) | set(summaries)):
            summary = summaries.get(site_id) or SiteSummary(site_id)
            offline = self._offline(summary.last_report_at_ms, beats.get(site_id), now)
            views.append(site_view(summary, sites.name(site_id), now, offline))
        return views

    def fleet(
        self, query: FleetQuery, by_attention: bool, bodies: bool
    ) -> tuple[list[SiteView], Selection]:
        """One page of the fleet: sorted and filtered from FleetRows, then read in full.

        `bodies`: with the latest status report itself (the API), not only its headline.
        """
        sites = self.sites.current
        rows = {row.site_id: row for row in self.store.fleet()}
        beats = self.store.heartbeat_times()
        now = self.now_ms()
        entries = []
        for site_id in set(sites.sites) | set(rows):
            row = rows.get(site_id) or FleetRow(site_id, None, 0, 0, None)
            headline = row.headline
            standing = Standing(
                offline=self._offline(row.last_report_at_ms, beats.get(site_id), now),
                missing=row.missing,
                unexplained_missing=row.missing - row.announced_dropped,
                status=None if headline is None else StatusSummary.from_headline(headline),
            )
            entries.append(Entry(site_id, sites.name(site_id), standing))
        selection = select(entries, query, by_attention)
        summaries = self.store.summaries(
            [e.site_id for e in selection.entries], MAX_GAPS_LISTED, bodies=bodies
        )
        views = [
            site_view(
                summaries.get(e.site_id) or SiteSummary(e.site_id),
                e.name,
                now,
                e.standing.offline,
                e.standing.status,
            )
            for e in selection.entries
        ]
        return views, selection

    def now_ms(self) -> int:
        """The injected wall clock in milliseconds."""
        return int(self.clock() * 1000)


def _fleet_query() -> FleetQuery:
    """`?problem=&q=&page=&per_page=` of the overview and the paged GET /api/sites."""
    problem = request.args.get("problem") or None
    if problem is not None and problem not in PROBLEMS:
        abort(_error(400, f"problem must be one of {', '.join(PROBLEMS)}, got {shown(problem)}"))
    return FleetQuery(
        problem=problem,
        text=request.args.get("q", "").strip()[:MAX_QUERY_CHARS],
        page=_int_arg("page", 1, 1, MAX_PAGE),
        per_page=_int_arg("per_page", SITES_PER_PAGE, 1, MAX_SITES_PER_PAGE),
    )


def _register_receiver(app: Flask, store: ReportStore, sites: LiveSites, clock: Clock) -> None:
    @app.post("/api/nvr/reports")
    def receive() -> Response:
        # Sizes and headers first, then the body (docs/design/headoffice.md, invariant 1).
        if request.content_length is None:
            return _error(411, "Content-Length required")
        if request.content_length > MAX_BODY_BYTES:
            raise RequestEntityTooLarge()
        try:
            site_id, body = authenticate_request(request, sites.current, clock())
            envelopes = parse_envelopes(body, site_id)
        except Refused as err:
            log.warning(
                "refused from %s: HTTP %d %s%s",
                request.remote_addr,
                err.status,
                err.reason,
                f" [{err.detail}]" if err.detail else "",
            )
            return _error(err.status, err.reason)
        stored = store.store(site_id, envelopes, int(clock() * 1000))
        # Committed (synchronous=FULL) before this answer: a 200 means durable.
        log.info(
            "site=%s accepted=%d duplicates=%d seqs=%s",
            site_id,
            stored.accepted,
            stored.duplicates,
            seq_ranges_text(stored.seqs),
        )
        return jsonify({"accepted": stored.accepted, "duplicates": stored.duplicates})

    @app.errorhandler(RequestEntityTooLarge)
    def too_large(err: RequestEntityTooLarge) -> Response:
        return _error(413, f"body larger than {MAX_BODY_BYTES} bytes: send fewer reports per POST")

    def database_down(err: Exception) -> Response:
        # 503: the site keeps the reports and retries; nothing was acknowledged.
        reason = redact_text(str(err).strip().splitlines()[-1] if str(err).strip() else "")
        log.error("database %s: %s: %s", store.name, type(err).__name__, reason)
        return _error(503, f"database unavailable: {reason or type(err).__name__}")

    for error_type in store.engine.errors:
        app.register_error_handler(error_type, database_down)


def _register_views(app: Flask, views: Views) -> None:
    @app.get("/api/sites")
    def api_sites() -> Response:
        if not any(name in request.args for name in FLEET_PARAMETERS):
            # The answer of old: every site, in full (a thousand sites: a large answer).
            return jsonify([{**v.summary.to_json(), "name": v.name} for v in views.all()])
        query = _fleet_query()
        page, selection = views.fleet(query, by_attention=False, bodies=True)
        sites = [
            {**v.summary.to_json(), "name": v.name, "problems": list(v.standing.problems)}
            for v in page
        ]
        return jsonify(
            {
                "total": selection.total,
                "page": query.page,
                "pages": selection.pages,
                "per_page": query.per_page,
                "problems": selection.counts,
                "sites": sites,
            }
        )

    @app.get("/api/sites/<site_id>/reports")
    def api_reports(site_id: str) -> Response:
        views.site(site_id)
        after = _int_arg("after_seq", 0, 0, MAX_SEQ)
        limit = _int_arg("limit", DEFAULT_REPORTS_LIMIT, 1, MAX_REPORTS_LIMIT)
        kind = request.args.get("kind")
        reports = views.store.reports(
            site_id, after_seq=after, kinds=(kind,) if kind else (), limit=limit
        )
        return jsonify([r.to_json() for r in reports])

    @app.get("/")
    def overview() -> Response:
        query = _fleet_query()
        page, selection = views.fleet(query, by_attention=True, bodies=False)
        html = render_overview(page, selection, query, views.now_ms())
        return Response(html, content_type="text/html; charset=utf-8")

    @app.get("/sites/<site_id>")
    def site_page(site_id: str) -> Response:
        view = views.site(site_id)
        latest = views.store.reports(site_id, limit=SITE_PAGE_REPORTS, newest=True)
        events = views.store.reports(
            site_id, kinds=EVENT_KINDS, limit=SITE_PAGE_REPORTS, newest=True
        )
        now = views.now_ms()
        measured = views.store.camera_days(site_id, coverage_days(now)[0])
        html = render_site(view, latest, events, measured, now)
        return Response(html, content_type="text/html; charset=utf-8")

    @app.get("/healthz")
    def healthz() -> Response:
        views.store.site_ids()  # the database answers (a failure becomes a 503)
        return Response("ok\n", content_type="text/plain; charset=utf-8")


def create_app(store: ReportStore, sites: LiveSites, clock: Clock = time.time) -> Flask:
    """The WSGI app; `clock` is injectable so tests can age a signature."""
    app = Flask(__name__)
    # Flask answers 413 before reading a longer body into memory.
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    _register_receiver(app, store, sites, clock)
    _register_views(app, Views(store, sites, clock))
    clips.register(app, store)
    heartbeats.register(app, store, sites, clock, _error)
    return app
