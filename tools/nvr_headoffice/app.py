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
    SITE_PAGE_REPORTS,
)
from nvr_headoffice.errors import Refused
from nvr_headoffice.page import SiteView, render_overview, render_site, site_view
from nvr_headoffice.sites import LiveSites
from nvr_headoffice.store import ReportStore
from nvr_headoffice.verify import authenticate_request, parse_envelopes, shown

log = logging.getLogger(__name__)

Clock = Callable[[], float]  # wall clock, Unix seconds
# The log line of an accepted batch names at most this many seq ranges.
LOGGED_RANGES = 4


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
        return site_id in self.sites.current.sites or site_id in self.store.site_ids()

    def site(self, site_id: str) -> SiteView:
        """One site, 404 when unknown."""
        if not self.known(site_id):
            abort(_error(404, f"unknown site {shown(site_id)}"))
        summary = self.store.summary(site_id, MAX_GAPS_LISTED)
        return site_view(summary, self.sites.current.name(site_id), self.now_ms())

    def all(self) -> list[SiteView]:
        """Every site, by id."""
        sites = self.sites.current
        ids = sorted(set(sites.sites) | set(self.store.site_ids()))
        now = self.now_ms()
        return [site_view(self.store.summary(i, MAX_GAPS_LISTED), sites.name(i), now) for i in ids]

    def now_ms(self) -> int:
        """The injected wall clock in milliseconds."""
        return int(self.clock() * 1000)


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
        return jsonify([{**v.summary.to_json(), "name": v.name} for v in views.all()])

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
        html = render_overview(views.all(), views.now_ms())
        return Response(html, content_type="text/html; charset=utf-8")

    @app.get("/sites/<site_id>")
    def site_page(site_id: str) -> Response:
        view = views.site(site_id)
        latest = views.store.reports(site_id, limit=SITE_PAGE_REPORTS, newest=True)
        events = views.store.reports(
            site_id, kinds=EVENT_KINDS, limit=SITE_PAGE_REPORTS, newest=True
        )
        html = render_site(view, latest, events, views.now_ms())
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
    heartbeats.register(app, sites, clock, _error)
    return app
