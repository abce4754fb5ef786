"""The pages: server-rendered HTML, no front-end build, the overview reloads itself.

Everything shown comes from the field (camera names, event messages), so the templates
rely on Jinja's autoescaping, which Flask turns on for render_template_string; nothing is
marked safe.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import render_template_string

from nvr.core.timeutil import format_ms
from nvr_headoffice.constants import (
    COVERAGE_GOOD_PERCENT,
    COVERAGE_WARN_PERCENT,
    PAGE_REFRESH_SECONDS,
    SILENT_AFTER_SECONDS,
)
from nvr_headoffice.store import SiteSummary, StoredReport
from nvr_headoffice.summary import StatusSummary, report_line, status_summary


@dataclass(frozen=True)
class SiteView:
    """A site as a page shows it: its summary, name, status headline and report age."""

    summary: SiteSummary
    name: str
    status: StatusSummary | None
    age: str
    silent: bool

    @property
    def attention(self) -> int:
        """0 needs someone now (unhealthy, silent, lost reports), 1 worth a look, 2 fine."""
        health = self.status.health if self.status else "unknown"
        if self.silent or health == "unhealthy" or self.summary.unexplained_missing > 0:
            return 0
        day = self.worst("24h")
        low = day is not None and day < COVERAGE_GOOD_PERCENT
        if health != "healthy" or self.summary.missing > 0 or low:
            return 1
        return 2

    def worst(self, window: str) -> float | None:
        """The lowest percent recorded over `window` among the site's cameras."""
        values = [
            p
            for line in (self.status.camera_lines if self.status else [])
            if (p := line.windows.get(window)) is not None
        ]
        return min(values) if values else None

    @property
    def gaps_class(self) -> str:
        """Red for missing reports nobody announced, orange for announced drops only."""
        if self.summary.unexplained_missing > 0:
            return "bad"
        return "warn" if self.summary.missing > 0 else "good"


def age_text(seconds: float) -> str:
    """`42 s`, `7 min`, `3 h`, `2 d`: how long ago, at a glance."""
    for unit, size in (("d", 86_400), ("h", 3_600), ("min", 60)):
        if seconds >= 2 * size:
            return f"{seconds // size:.0f} {unit}"
    return f"{max(seconds, 0):.0f} s"


def site_view(summary: SiteSummary, name: str, now_ms: int) -> SiteView:
    """Join a site's summary with what the page derives from it."""
    latest = summary.latest_status
    last = summary.last_report_at_ms
    age_s = None if last is None else (now_ms - last) / 1000
    return SiteView(
        summary=summary,
        name=name,
        status=status_summary(latest.body) if latest is not None else None,
        age="never" if age_s is None else age_text(age_s) + " ago",
        silent=age_s is None or age_s > SILENT_AFTER_SECONDS,
    )


def _event_row(report: StoredReport) -> dict[str, Any]:
    body = report.body
    return {
        "seq": report.seq,
        "kind": report.kind,
        "created_at": report.created_at,
        "severity": str(body.get("severity", "")),
        "event": str(body.get("event", "")),
        "camera": str(body.get("camera_name") or body.get("camera") or ""),
        "message": str(body.get("message", "")),
        "count": body.get("count", 1),
    }


def _report_row(report: StoredReport) -> dict[str, Any]:
    return {
        "seq": report.seq,
        "id": report.id,
        "kind": report.kind,
        "created_at": report.created_at,
        "received_at": format_ms(report.received_at_ms),
        "line": report_line(report.kind, report.body),
    }


def coverage_class(percent: float | None) -> str:
    """Good / warn / bad against the coverage thresholds; "" when unknown."""
    if percent is None:
        return ""
    if percent >= COVERAGE_GOOD_PERCENT:
        return "good"
    return "warn" if percent >= COVERAGE_WARN_PERCENT else "bad"


def render_overview(views: list[SiteView], now_ms: int) -> str:
    """GET /: one row per site, the ones that need attention first."""
    ordered = sorted(views, key=lambda v: (v.attention, v.summary.site_id))
    return render_template_string(
        OVERVIEW,
        views=ordered,
        now=format_ms(now_ms),
        refresh=PAGE_REFRESH_SECONDS,
        cov=coverage_class,
        good=COVERAGE_GOOD_PERCENT,
        warn=COVERAGE_WARN_PERCENT,
    )


def render_site(
    view: SiteView, reports: list[StoredReport], events: list[StoredReport], now_ms: int
) -> str:
    """GET /sites/<site_id>: the latest reports, events and alarms, gaps and cameras."""
    return render_template_string(
        SITE,
        v=view,
        s=view.summary,
        now=format_ms(now_ms),
        refresh=PAGE_REFRESH_SECONDS,
        events=[_event_row(r) for r in events],
        reports=[_report_row(r) for r in reports],
        cov=coverage_class,
        good=COVERAGE_GOOD_PERCENT,
        warn=COVERAGE_WARN_PERCENT,
    )


STYLE = """<style>
body{font:14px sans-serif;margin:1em;color:#222}
h1{font-size:1.4em} h2{font-size:1.1em;margin-top:1.5em}
table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:.2em .5em;text-align:left}
td.n{text-align:right}
.good{color:#2e7d32}.warn{color:#b26a00}.bad{color:#c62828;font-weight:bold}
.critical{color:#c62828}.warning{color:#b26a00}
.h-healthy{color:#2e7d32}.h-degraded{color:#b26a00}.h-unhealthy{color:#c62828;font-weight:bold}
.h-unknown{color:#666} td ul{margin:0;padding-left:1.1em}
small{color:#666}
</style>"""

OVERVIEW = (
    """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="{{ refresh }}">
<title>Head office: {{ views|length }} sites</title>
<link rel="icon" href="data:,">"""
    + STYLE
    + """</head><body>
<h1>Sites</h1>
<p>{{ views|length }} sites, those that need attention first; {{ now }}; this page reloads
every {{ refresh }} s. Recorded: the worst camera, green from {{ good }} %, orange from
{{ warn }} %.</p>
<table>
<tr><th>site</th><th>health</th><th>recorded 1 h / 24 h</th><th>cameras recording</th>
<th>disk</th><th>uplink backlog</th>
<th>last report</th><th>reports</th><th>missing (gaps)</th><th>duplicates received</th></tr>
{% for v in views %}{% set s = v.summary %}<tr id="site-{{ s.site_id }}">
<td><a href="sites/{{ s.site_id }}">{{ s.site_id }}</a>
{% if v.name %}<br><small>{{ v.name }}</small>{% endif %}</td>
{% if v.status %}<td><span class="h-{{ v.status.health }}">{{ v.status.health }}</span>
{% if v.status.failing or v.status.restart_loops %}<ul>
{% for line in v.status.restart_loops %}<li class="bad">{{ line }}: restart loop</li>{% endfor %}
{% for line in v.status.failing[:5] %}<li>{{ line }}</li>{% endfor %}
{% if v.status.failing|length > 5 %}<li>... {{ v.status.failing|length - 5 }} more</li>{% endif %}
</ul>{% endif %}</td>
{% set h1, h24 = v.worst('1h'), v.worst('24h') %}
<td><span class="{{ cov(h1) }}">{{ '?' if h1 is none else '%.1f %%' % h1 }}</span> /
<span class="{{ cov(h24) }}">{{ '?' if h24 is none else '%.1f %%' % h24 }}</span></td>
<td class="{{ 'good' if v.status.all_recording else 'bad' }}">
{{ v.status.recording }}/{{ v.status.cameras }}</td>
<td>{{ '?' if v.status.disk_percent is none else '%.0f%%' % v.status.disk_percent }}</td>
<td>{{ v.status.backlog_text }}</td>
{% else %}<td colspan="5"><small>no status report yet</small></td>{% endif %}
<td class="{{ 'warn' if v.silent else 'good' }}">{{ v.age }}</td>
<td class="n">{{ s.reports }}</td>
<td class="{{ v.gaps_class }}">{{ s.missing }}{% if s.announced_dropped %}
({{ s.announced_dropped }} announced dropped){% endif %}
{% for g in s.gaps[:5] %}<small>{{ g[0] }}{% if g[1] != g[0] %}-{{ g[1] }}{% endif %}</small>
{% endfor %}{% if s.gaps|length > 5 %}<small>...</small>{% endif %}</td>
<td class="n">{{ s.duplicates }}</td>
</tr>{% else %}<tr><td colspan="10">no site configured</td></tr>{% endfor %}
</table>
</body></html>
"""
)

SITE = (
    """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="{{ refresh }}">
<title>Site {{ s.site_id }}</title>
<link rel="icon" href="data:,">"""
    + STYLE
    + """</head><body>
<p><a href="../">all sites</a></p>
<h1>{{ s.site_id }}{% if v.name %} <small>{{ v.name }}</small>{% endif %}</h1>
<p>{{ now }}; last report {{ v.age }}; {{ s.reports }} reports
{% if s.first_seq is not none %}(seq {{ s.first_seq }} to {{ s.last_seq }}){% endif %};
{{ s.duplicates }} duplicates received{% if s.seq_reused %};
<span class="bad">{{ s.seq_reused }} new reports reused a seq (site reinstalled?)</span>
{% endif %}.</p>
<h2>Gaps</h2>
<p class="{{ v.gaps_class }}">{{ s.missing }} missing{% if s.announced_dropped %},
{{ s.announced_dropped }} of them announced as dropped by the site's full outbox{% endif %}.</p>
{% if s.gaps %}<ul>{% for g in s.gaps %}
<li>{{ g[0] }}{% if g[1] != g[0] %} to {{ g[1] }}{% endif %}</li>{% endfor %}</ul>{% endif %}
<h2>Latest status</h2>
{% if v.status %}{% set st = v.status %}
<p>report seq {{ s.latest_status.seq }}, created {{ s.latest_status.created_at }}:
{{ st.recording }}/{{ st.cameras }} cameras recording; disk
{{ '?' if st.disk_percent is none else '%.1f%%' % st.disk_percent }};
uplink backlog {{ st.backlog_text }}{% if st.stale_daemons %};
<span class="bad">stale: {{ st.stale_daemons|join(', ') }}</span>{% endif %}.</p>
<p>health: <span class="h-{{ st.health }}">{{ st.health }}</span></p>
{% if st.failing or st.restart_loops %}<ul>
{% for line in st.restart_loops %}<li class="bad">{{ line }}: restart loop</li>{% endfor %}
{% for line in st.failing %}<li>{{ line }}</li>{% endfor %}</ul>{% endif %}
<table><tr><th>camera</th><th>name</th><th>recorder</th><th>recorded last hour</th>
<th>last 24 h</th><th>dropouts last hour</th><th>in the report period</th>
<th>failing checks</th></tr>
{% for c in st.camera_lines %}<tr><td>{{ c.id }}</td><td>{{ c.name }}</td>
<td class="{{ 'good' if c.state == 'recording' else 'bad' }}">{{ c.state }}</td>
{% for w in ('1h', '24h') %}{% set p = c.windows.get(w) %}
<td class="n {{ cov(p) }}">{{ '?' if p is none else '%.1f%%' % p }}</td>{% endfor %}
<td class="n {{ 'warn' if c.dropouts_1h else 'good' }}">
{{ '?' if c.dropouts_1h is none else c.dropouts_1h }}</td>
<td class="n">{{ '?' if c.recorded_percent is none else '%.1f%%' % c.recorded_percent }}</td>
<td class="{{ 'bad' if c.failing_checks else 'good' }}">
{{ c.failing_checks|join(', ') or 'none' }}</td>
</tr>{% endfor %}</table>
{% else %}<p>no status report yet</p>{% endif %}
<h2>Events and alarms</h2>
{% if events %}<table><tr><th>seq</th><th>created</th><th>kind</th><th>severity</th><th>event</th>
<th>camera</th><th>count</th><th>message</th></tr>
{% for e in events %}<tr><td class="n">{{ e.seq }}</td><td>{{ e.created_at }}</td>
<td>{{ e.kind }}</td><td class="{{ e.severity }}">{{ e.severity }}</td><td>{{ e.event }}</td>
<td>{{ e.camera }}</td><td class="n">{{ e.count }}</td><td>{{ e.message }}</td></tr>
{% endfor %}</table>{% else %}<p>none received</p>{% endif %}
<h2>Latest reports</h2>
<table><tr><th>seq</th><th>kind</th><th>created</th><th>received</th><th>summary</th></tr>
{% for r in reports %}<tr><td class="n">{{ r.seq }}</td><td>{{ r.kind }}</td>
<td>{{ r.created_at }}</td><td>{{ r.received_at }}</td><td>{{ r.line }}</td></tr>
{% else %}<tr><td colspan="5">none</td></tr>{% endfor %}</table>
</body></html>
"""
)
