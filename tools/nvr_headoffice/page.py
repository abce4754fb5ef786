"""The pages: server-rendered HTML, no front-end build, the overview reloads itself.

Everything shown comes from the field (camera names, event messages), so the templates
rely on Jinja's autoescaping, which Flask's environment turns on for them; nothing is
marked safe.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from flask import current_app
from jinja2 import Environment, Template

from nvr.core.timeutil import format_ms
from nvr_headoffice.constants import (
    COVERAGE_DAYS,
    COVERAGE_GOOD_PERCENT,
    COVERAGE_WARN_PERCENT,
    PAGE_REFRESH_SECONDS,
    SILENT_AFTER_SECONDS,
    SITES_PER_PAGE,
)
from nvr_headoffice.fleet import PROBLEM_LABELS, PROBLEMS, FleetQuery, Selection, Standing
from nvr_headoffice.store import CameraDay, SiteSummary, StoredReport
from nvr_headoffice.summary import StatusSummary, report_line, status_summary


@dataclass(frozen=True)
class SiteView:
    """A site as a page shows it: its summary, name, status headline and report age."""

    summary: SiteSummary
    name: str
    status: StatusSummary | None
    age: str
    silent: bool
    standing: Standing

    @property
    def attention(self) -> int:
        """0 needs someone now, 1 worth a look, 2 fine (fleet.Standing.attention)."""
        return self.standing.attention

    def worst(self, window: str) -> float | None:
        """The lowest percent recorded over `window` among the site's cameras."""
        return self.status.worst.get(window) if self.status else None

    @property
    def gaps_class(self) -> str:
        """Red for missing reports nobody announced, orange for announced drops only."""
        if self.summary.unexplained_missing > 0:
            return "bad"
        return "warn" if self.summary.missing > 0 else "good"


@functools.lru_cache(maxsize=8)
def _compiled(env: Environment, source: str) -> Template:
    """Each template compiled once per app, not on every request (half a page's time)."""
    return env.from_string(source)


def _render(source: str, **context: Any) -> str:
    return _compiled(current_app.jinja_env, source).render(**context)


def age_text(seconds: float) -> str:
    """`42 s`, `7 min`, `3 h`, `2 d`: how long ago, at a glance."""
    for unit, size in (("d", 86_400), ("h", 3_600), ("min", 60)):
        if seconds >= 2 * size:
            return f"{seconds // size:.0f} {unit}"
    return f"{max(seconds, 0):.0f} s"


def site_view(
    summary: SiteSummary,
    name: str,
    now_ms: int,
    offline: bool,
    headline: StatusSummary | None = None,
) -> SiteView:
    """Join a site's summary with what the page derives from it.

    The status comes from the summary's latest status report, or from its `headline`
    when the summary was read without report bodies (the overview).
    """
    latest = summary.latest_status
    last = summary.last_report_at_ms
    age_s = None if last is None else (now_ms - last) / 1000
    status = status_summary(latest.body) if latest is not None else headline
    return SiteView(
        summary=summary,
        name=name,
        status=status,
        age="never" if age_s is None else age_text(age_s) + " ago",
        silent=age_s is None or age_s > SILENT_AFTER_SECONDS,
        standing=Standing(offline, summary.missing, summary.unexplained_missing, status),
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


@dataclass(frozen=True)
class Link:
    """A filter or pager link of the overview."""

    label: str
    href: str
    active: bool = False


def _href(query: FleetQuery, **changes: Any) -> str:
    """`?problem=offline&q=smg&page=2`: the query with `changes`, defaults left out."""
    fields = {"problem": query.problem, "q": query.text, "page": query.page, **changes}
    kept = {key: value for key, value in fields.items() if value and value != 1}
    if query.per_page != SITES_PER_PAGE:
        kept["per_page"] = query.per_page
    return "?" + urlencode(kept) if kept else "./"


def filter_links(selection: Selection, query: FleetQuery) -> list[Link]:
    """`all`, then one link per problem with its count; page 1 of each."""
    links = [Link("all", _href(query, problem=None, page=1), query.problem is None)]
    for problem in PROBLEMS:
        label = f"{PROBLEM_LABELS[problem]} ({selection.counts.get(problem, 0)})"
        links.append(Link(label, _href(query, problem=problem, page=1), query.problem == problem))
    return links


def pager_links(selection: Selection, query: FleetQuery) -> list[Link]:
    """Previous and next page, where there is one."""
    links = []
    if query.page > 1:
        links.append(Link("previous", _href(query, page=query.page - 1)))
    if query.page < selection.pages:
        links.append(Link("next", _href(query, page=query.page + 1)))
    return links


def render_overview(
    views: list[SiteView], selection: Selection, query: FleetQuery, now_ms: int
) -> str:
    """GET /: one row per site of the page, in the selection's order (attention first)."""
    return _render(
        OVERVIEW,
        views=views,
        selection=selection,
        query=query,
        filters=filter_links(selection, query),
        pager=pager_links(selection, query),
        labels=PROBLEM_LABELS,
        now=format_ms(now_ms),
        refresh=PAGE_REFRESH_SECONDS,
        cov=coverage_class,
        good=COVERAGE_GOOD_PERCENT,
        warn=COVERAGE_WARN_PERCENT,
    )


@dataclass(frozen=True)
class CoverageRow:
    """A camera's percent recorded per day (None: no status report that day)."""

    camera: str
    name: str
    cells: list[CameraDay | None]


def coverage_days(now_ms: int) -> list[str]:
    """The last COVERAGE_DAYS UTC days, oldest first, today last."""
    today = datetime.fromtimestamp(now_ms / 1000, UTC).date()
    return [(today - timedelta(days=n)).isoformat() for n in range(COVERAGE_DAYS - 1, -1, -1)]


def coverage_rows(
    days: list[str], measured: list[CameraDay], status: StatusSummary | None
) -> list[CoverageRow]:
    """One row per camera measured in the window, named from the latest status report."""
    names = {line.id: line.name for line in status.camera_lines} if status else {}
    by_camera: dict[str, dict[str, CameraDay]] = {}
    for day in measured:
        by_camera.setdefault(day.camera, {})[day.day] = day
    return [
        CoverageRow(camera, names.get(camera, ""), [cells.get(day) for day in days])
        for camera, cells in sorted(by_camera.items())
    ]


def render_site(
    view: SiteView,
    reports: list[StoredReport],
    events: list[StoredReport],
    measured: list[CameraDay],
    now_ms: int,
) -> str:
    """GET /sites/<site_id>: the latest reports, events and alarms, gaps and cameras."""
    days = coverage_days(now_ms)
    return _render(
        SITE,
        days=days,
        coverage=coverage_rows(days, measured, view.status),
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
.bar a{margin-right:.6em}.bar a.active{font-weight:bold;text-decoration:none}
.problems span{display:inline-block;margin:0 .3em .1em 0;padding:0 .3em;border-radius:3px;
background:#fdecea;color:#c62828}
td.day{min-width:2.2em;text-align:right;font-size:12px}
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
<p>{{ selection.total }} sites{% if query.problem or query.text %} match{% endif %},
those that need attention first; {{ now }}; this page reloads every {{ refresh }} s.
Recorded: the worst camera, green from {{ good }} %, orange from {{ warn }} %.</p>
<form method="get" class="bar">{% for f in filters %}<a href="{{ f.href }}"
{% if f.active %} class="active"{% endif %}>{{ f.label }}</a> {% endfor %}
{% if query.problem %}<input type="hidden" name="problem" value="{{ query.problem }}">
{% endif %}
<input name="q" value="{{ query.text }}" placeholder="site id or name">
<button>find</button></form>
<p class="bar">page {{ query.page }} of {{ selection.pages }}
{% for p in pager %}<a href="{{ p.href }}" rel="{{ p.label[:4] }}">{{ p.label }}</a>
{% endfor %}</p>
<table>
<tr><th>site</th><th>problems</th><th>health</th><th>recorded 1 h / 24 h</th>
<th>cameras recording</th>
<th>disk</th><th>uplink backlog</th>
<th>last report</th><th>reports</th><th>missing (gaps)</th><th>duplicates received</th></tr>
{% for v in views %}{% set s = v.summary %}<tr id="site-{{ s.site_id }}">
<td><a href="sites/{{ s.site_id }}">{{ s.site_id }}</a>
{% if v.name %}<br><small>{{ v.name }}</small>{% endif %}</td>
<td class="problems">{% for p in v.standing.problems %}
<span class="p-{{ p }}">{{ labels[p] }}</span>{% endfor %}</td>
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
</tr>{% else %}<tr><td colspan="11">{{ 'no site matches' if query.problem or query.text
else 'no site configured' }}</td></tr>{% endfor %}
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
<h2>Recorded per day, last {{ days|length }} days</h2>
{% if coverage %}<table id="coverage"><tr><th>camera</th>
{% for d in days %}<th title="{{ d }}"><small>{{ d[8:] }}</small></th>{% endfor %}</tr>
{% for row in coverage %}<tr><td>{{ row.camera }}{% if row.name %} <small>{{ row.name }}</small>
{% endif %}</td>{% for c in row.cells %}{% if c %}<td class="day {{ cov(c.percent) }}"
title="{{ c.day }}: {{ c.samples }} status reports">{{ '%.0f' % c.percent }}</td>{% else %}
<td class="day" title="no status report">&middot;</td>{% endif %}{% endfor %}</tr>
{% endfor %}</table>
<p><small>Percent of the day recorded, the mean of the day's status reports (UTC days,
today last); a dot: no status report that day.</small></p>
{% else %}<p>no camera coverage received yet</p>{% endif %}
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
