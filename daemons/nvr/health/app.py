"""The Flask app: /health, /health/live, /ready, /metrics, / and camera snapshots. Read-only.

Probes for the NOC, the page and snapshots behind a viewer login (nvr.health.access).
"""

from __future__ import annotations

import logging
import sqlite3

from flask import Flask, Response, abort, jsonify, request, send_file

from nvr.core.state import SCHEMA_VERSION
from nvr.health import metrics
from nvr.health.access import Access
from nvr.health.body import health_body, unavailable_body
from nvr.health.errors import HealthError
from nvr.health.page import render_page, snapshot_file
from nvr.health.sources import Sources

log = logging.getLogger(__name__)

PROMETHEUS_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# What the NOC may poll (with health.token when one is set); the rest needs a viewer login.
PROBE_ENDPOINTS = frozenset({"health", "live", "ready", "prometheus"})


def _unavailable(err: Exception) -> tuple[Response, int]:
    log.warning("state file unreadable: %s", err)
    return jsonify(unavailable_body(err)), 503


def _register_probes(app: Flask, sources: Sources) -> None:
    """/health, /health/live and /ready: what the NOC and a load balancer poll."""

    @app.get("/health")
    def health() -> tuple[Response, int]:
        try:
            facts, report, skipped = sources.report()
        except (sqlite3.Error, HealthError) as err:
            return _unavailable(err)
        return jsonify(health_body(facts.config, report, skipped)), report.http_status

    @app.get("/health/live")
    def live() -> Response:
        return jsonify({"status": "alive"})

    @app.get("/ready")
    def ready() -> tuple[Response, int]:
        try:
            version = sources.connection().execute("PRAGMA user_version").fetchone()[0]
        except (sqlite3.Error, HealthError) as err:
            return jsonify({"ready": False, "reason": f"state file unreadable: {err}"}), 503
        if version != SCHEMA_VERSION:
            reason = f"state file schema {version}, this software expects {SCHEMA_VERSION}"
            return jsonify({"ready": False, "reason": reason}), 503
        return jsonify({"ready": True}), 200


def _register_views(app: Flask, sources: Sources, access: Access) -> None:
    """/metrics, the status page and the snapshots it shows."""

    @app.get("/metrics")
    def prometheus() -> Response:
        facts, report, _ = sources.report()
        text = metrics.render(facts, report, sources.totals())
        return Response(text, content_type=PROMETHEUS_TYPE)

    @app.get("/")
    def page() -> Response:
        refused = access.viewer(sources.config, request, None)
        if refused is not None:
            return refused
        facts, report, skipped = sources.report()
        html = render_page(sources.connection(), facts, report, skipped, request.args.get("zoom"))
        return Response(html, content_type="text/html; charset=utf-8")

    @app.get("/snapshot/<camera>.jpg")
    def snapshot(camera: str) -> Response:
        refused = access.viewer(sources.config, request, camera)
        if refused is not None:
            return refused
        # Only configured camera ids reach the file system: no path is built from input.
        if sources.config.camera(camera) is None:
            abort(404)
        path = snapshot_file(sources.config.storage.state_file, camera)
        if path is None:
            abort(404)
        return send_file(path, mimetype="image/jpeg", max_age=0)


def create_app(sources: Sources, access: Access | None = None) -> Flask:
    """The WSGI app; every route reads, none writes (a failed login is counted, security.md)."""
    app = Flask(__name__)
    access = access or Access()
    _register_probes(app, sources)
    _register_views(app, sources, access)

    @app.before_request
    def probes_need_the_token() -> Response | None:
        if request.endpoint in PROBE_ENDPOINTS:
            return access.probe_refusal(sources.config, request)
        return None

    return app
