"""The technician's status page: server-rendered HTML, no front-end build, reloads itself."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from flask import render_template_string

from nvr.core.playbackurl import playback_server
from nvr.core.timeutil import format_local
from nvr.health.constants import HDDMON_DAEMON
from nvr.health.facts import Facts
from nvr.health.model import CheckResult, HealthReport
from nvr.health.timeline import (
    CAUSE_COLOURS,
    RECORDED_COLOUR,
    ZOOM_LABELS,
    ZOOMS,
    timeline,
    zoom_of,
)


def snapshot_file(state_file: Path, camera: str) -> Path | None:
    """The newer of the validator's last good and last bad snapshot of `camera`."""
    folder = state_file.parent / "snapshots" / camera
    files = [p for p in (folder / "last_good.jpg", folder / "last_bad.jpg") if p.is_file()]
    return max(files, key=lambda p: p.stat().st_mtime) if files else None


def _by_name(report: HealthReport) -> dict[str, CheckResult]:
    return {r.name: r for r in report.results}


def render_page(
    conn: sqlite3.Connection,
    facts: Facts,
    report: HealthReport,
    skipped: dict[str, str],
    zoom: str | None = None,
) -> str:
    """The whole page; `zoom` is the timeline's window (24h, 1h, 15m)."""
    results = _by_name(report)
    window = zoom_of(zoom)
    cameras: list[dict[str, Any]] = []
    for camera in facts.config.enabled_cameras:
        cameras.append(
            {
                "id": camera.id,
                "name": camera.name or camera.id,
                "result": results.get(f"camera:{camera.id}"),
                "timeline": timeline(conn, camera.id, facts.now_ms, window),
                "snapshot": snapshot_file(facts.config.storage.state_file, camera.id) is not None,
            }
        )
    return render_template_string(
        TEMPLATE,
        site=facts.config.site,
        overall=str(report.overall),
        checked=format_local(facts.now_ms),
        refresh=facts.config.health.page_refresh_seconds,
        cameras=cameras,
        failing=report.failing(),
        daemons=[r for r in report.results if r.name.startswith("daemon:")],
        uplinks=[r for r in report.results if r.name.startswith("uplink:")],
        disk=results.get("disk"),
        disk_percent=facts.detail(HDDMON_DAEMON).get("percent"),
        skipped=skipped,
        legend=CAUSE_COLOURS,
        recorded_colour=RECORDED_COLOUR,
        zoom=window,
        zooms=ZOOM_LABELS,
        playback=playback_server(facts.config),
        timeline_start_ms=facts.now_ms - ZOOMS[window],
        span_ms=ZOOMS[window],
    )


TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="{{ refresh }}">
<title>NVR {{ site.id }}: {{ overall }}</title>
<link rel="icon" href="data:,">
<style>
body{font:14px sans-serif;margin:1em;color:#222}
h1{font-size:1.4em} h2{font-size:1.1em;margin-top:1.5em}
.ok{color:#2e7d32}.warning{color:#b26a00}.critical{color:#c62828}
.badge{padding:.1em .5em;border-radius:.3em;color:#fff}
.b-healthy{background:#2e7d32}.b-degraded{background:#b26a00}.b-unhealthy{background:#c62828}
.cams{display:grid;grid-template-columns:repeat(auto-fill,minmax(300px,1fr));gap:.8em}
.cam{border:1px solid #ccc;border-radius:.4em;padding:.5em}
.cam img{width:100%;height:160px;object-fit:cover;background:#eee}
.noimg{height:160px;background:#eee;display:flex;align-items:center;justify-content:center}
.tl{position:relative;height:14px;background:#eee;margin-top:.3em}
.tl span{position:absolute;top:0;height:14px}
table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:.2em .5em;text-align:left}
.gauge{width:300px;height:18px;background:#eee;border:1px solid #aaa}
.gauge div{height:18px}
.legend span{display:inline-block;width:12px;height:12px;margin:0 .2em 0 .8em}
.zoom a,.zoom b{margin:0 .4em}
</style></head><body>
<h1>{{ site.name or site.id }} <span class="badge b-{{ overall }}">{{ overall }}</span></h1>
<p>checked {{ checked }}; this page reloads every {{ refresh }} s.</p>
{% if failing %}<h2>Needs attention</h2><ul>
{% for r in failing %}<li class="{{ r.severity }}"><b>{{ r.name }}</b>: {{ r.reason }}</li>
{% endfor %}</ul>{% endif %}
<h2>Cameras</h2>
<div class="zoom">show the last {% for key, label in zooms.items() %}{% if key == zoom %}
<b>{{ label }}</b>{% else %}<a href="?zoom={{ key }}">{{ label }}</a>{% endif %}{% endfor %}</div>
<div class="legend">last {{ zooms[zoom] }}:
<span style="background:{{ recorded_colour }}"></span>recorded
{% for cause, colour in legend.items() %}<span style="background:{{ colour }}"></span>{{ cause }}
{% endfor %}</div>
<div class="cams">
{% for c in cameras %}<div class="cam" id="cam-{{ c.id }}">
<b>{{ c.name }}</b> ({{ c.id }})
<span class="{{ c.result.severity if c.result else 'ok' }}">
{{ c.result.severity if c.result else 'unknown' }}</span>
{% if c.snapshot %}<img src="snapshot/{{ c.id }}.jpg" alt="{{ c.id }} snapshot">
{% else %}<div class="noimg">no snapshot yet</div>{% endif %}
<div>{{ c.result.data.recorder if c.result else '' }}{% if c.result and c.result.reason %}:
{{ c.result.reason }}{% endif %}</div>
<div class="tl" title="last {{ zooms[zoom] }}: click to play"
 data-camera="{{ c.id }}">{% for b in c.timeline.bars %}<span
 style="left:{{ '%.3f' % b.left }}%;width:{{ '%.3f' % b.width }}%;background:{{ b.colour }}"
 title="{{ b.title }}"></span>{% endfor %}</div>
<div class="drops {{ 'warning' if c.timeline.dropouts else 'ok' }}">{{ c.id }}:
{{ c.timeline.dropouts }} dropout{{ '' if c.timeline.dropouts == 1 else 's' }}
in {{ zooms[zoom] }}</div>
</div>{% endfor %}
</div>
<h2>Disk</h2>
{% if disk_percent is not none %}<div class="gauge"><div style="width:{{ disk_percent }}%;
background:{{ '#c62828' if disk.severity == 'critical' else '#b26a00' if disk.severity == 'warning'
 else '#2e7d32' }}"></div></div>{{ '%.1f' % disk_percent }}% used{% else %}usage unknown{% endif %}
{% if disk and disk.reason %}<p class="{{ disk.severity }}">{{ disk.reason }}</p>{% endif %}
<h2>Daemons</h2>
<table><tr><th>daemon</th><th>status</th><th>state</th><th>heartbeat age</th><th>detail</th></tr>
{% for r in daemons %}<tr><td>{{ r.name[7:] }}</td>
<td class="{{ r.severity }}">{{ r.severity }}</td>
<td>{{ r.data.state }}</td><td>{{ r.data.heartbeat_age_s }} s</td>
<td>{{ r.reason or r.data.status_line }}</td></tr>{% endfor %}</table>
<h2>Uplink</h2>
{% if uplinks %}<table><tr><th>destination</th><th>status</th><th>waiting</th>
<th>oldest (s)</th><th>circuit</th></tr>
{% for r in uplinks %}<tr><td>{{ r.name[7:] }}</td>
<td class="{{ r.severity }}">{{ r.severity }}</td>
<td>{{ r.data.backlog }}</td><td>{{ r.data.oldest_pending_age_s }}</td><td>{{ r.data.circuit }}</td>
</tr>{% endfor %}</table>{% else %}<p>{{ skipped.get('uplink', 'no destination') }}</p>{% endif %}
<script>
// The timeline opens nvr-livestream's playback page at the clicked minute (playback.md).
const play = {{ {"scheme": playback.scheme, "host": playback.host, "port": playback.port}|tojson }};
for (const tl of document.querySelectorAll(".tl[data-camera]")) {
  tl.style.cursor = "pointer";
  tl.addEventListener("click", (event) => {
    const box = tl.getBoundingClientRect();
    const span = {{ span_ms }};
    const ms = {{ timeline_start_ms }} + (event.clientX - box.left) / box.width * span;
    const at = new Date(ms - ms % 60000).toISOString();
    const host = play.host || location.hostname;
    location.href = play.scheme + "://" + host + ":" + play.port + "/view/"
      + encodeURIComponent(tl.dataset.camera) + "?at=" + at;
  });
}
</script>
{% if skipped %}<h2>Not checked</h2><ul>{% for k, v in skipped.items() %}<li>{{ k }}: {{ v }}</li>
{% endfor %}</ul>{% endif %}
</body></html>
"""
