"""The per-camera playback page: 24 h timeline, a player at the clicked minute, evidence buttons.

Server-rendered like nvr-health's status page; the player is hls.js served from the
package (static/, Apache-2.0, no CDN); Safari plays the playlist natively.
"""

from __future__ import annotations

import sqlite3

from flask import render_template_string

from nvr.core.config import Config
from nvr.core.config.viewers import ViewerAccount
from nvr.core.gapcolours import (
    GAP_COLOURS,
    OTHER_GAP_COLOUR,
    PROTECTED_COLOUR,
    RECORDED_COLOUR,
    Bar,
)
from nvr.core.tables.recordings import coverage
from nvr.core.timeutil import format_ms

TIMELINE_MS = 24 * 3_600_000
# The player loads this much from the clicked minute; the shown range the buttons act on.
PLAYER_SECONDS = 3600
MINUTE_MS = 60_000


def _bar(start: int, end: int, window_start: int, colour: str, title: str) -> Bar:
    shown = min(end, window_start + TIMELINE_MS) - max(start, window_start)
    left = max(0.0, 100 * (start - window_start) / TIMELINE_MS)
    return Bar(left, max(0.2, 100 * shown / TIMELINE_MS), colour, title)


def timeline_bars(conn: sqlite3.Connection, camera: str, now_ms: int) -> list[Bar]:
    """Recorded (green), gaps coloured by reason, protected ranges (yellow, on top)."""
    start = now_ms - TIMELINE_MS
    bars = [Bar(0.0, 100.0, RECORDED_COLOUR, "recorded")]
    for gap in coverage(conn, camera, start, now_ms).gaps:
        colour = GAP_COLOURS.get(gap.reason, OTHER_GAP_COLOUR)
        title = f"{format_ms(gap.start_ms)} - {format_ms(gap.end_ms)}: {gap.reason}"
        bars.append(_bar(gap.start_ms, gap.end_ms, start, colour, title))
    rows = conn.execute(
        "SELECT from_ms, to_ms, reason FROM protections WHERE camera = ? AND from_ms < ?"
        " AND to_ms > ?",
        (camera, now_ms, start),
    ).fetchall()
    for from_ms, to_ms, reason in rows:
        title = f"protected {format_ms(from_ms)} - {format_ms(to_ms)}: {reason}"
        bars.append(_bar(from_ms, to_ms, start, PROTECTED_COLOUR, title))
    return bars


def render_camera_page(
    conn: sqlite3.Connection,
    config: Config,
    viewer: ViewerAccount,
    camera: str,
    at_ms: int,
    now_ms: int,
) -> str:
    """The page for `camera`, its player starting at the minute of `at_ms`."""
    at_ms -= at_ms % MINUTE_MS
    end_ms = at_ms + PLAYER_SECONDS * 1000
    found = config.camera(camera)
    start, end = format_ms(at_ms), format_ms(end_ms)
    return render_template_string(
        TEMPLATE,
        camera=camera,
        name=(found.name if found else None) or camera,
        site=config.site.name or config.site.id,
        bars=timeline_bars(conn, camera, now_ms),
        legend={"recorded": RECORDED_COLOUR, **GAP_COLOURS, "protected": PROTECTED_COLOUR},
        window_start_ms=now_ms - TIMELINE_MS,
        cursor=100 * (at_ms - (now_ms - TIMELINE_MS)) / TIMELINE_MS,
        start=start,
        end=end,
        seconds=PLAYER_SECONDS,
        may_protect=viewer.may_protect,
    )


TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>{{ name }} ({{ camera }}): playback from {{ start }}</title>
<link rel="icon" href="data:,">
<style>
body{font:14px sans-serif;margin:1em;color:#222}
.tl{position:relative;height:22px;background:#eee;cursor:crosshair;margin:.5em 0}
.tl span{position:absolute;top:0;height:22px}
.tl .cursor{background:#000;width:2px}
video{width:100%;max-width:960px;background:#000}
.legend span{display:inline-block;width:12px;height:12px;margin:0 .2em 0 .8em}
#status{color:#555}
</style></head><body>
<h1>{{ name }} ({{ camera }}) <small>{{ site }}</small></h1>
<div class="legend">last 24 h, click to play that minute:
{% for label, colour in legend.items() %}<span style="background:{{ colour }}"></span>{{ label }}
{% endfor %}</div>
<div class="tl" id="timeline" data-start-ms="{{ window_start_ms }}">{% for b in bars %}<span
 style="left:{{ '%.3f' % b.left }}%;width:{{ '%.3f' % b.width }}%;background:{{ b.colour }}"
 title="{{ b.title }}"></span>{% endfor %}<span class="cursor"
 style="left:{{ '%.3f' % cursor }}%"></span></div>
<video id="player" controls muted playsinline></video>
<p id="status">shown: {{ start }} to {{ end }} (UTC)</p>
<p>playing: <span id="clock">-</span></p>
<p><a id="download"
 href="../get?path={{ camera }}&start={{ start }}&duration={{ seconds }}"
>download this hour (MP4)</a> ·
<a id="evidence" href="../export?path={{ camera }}&start={{ start }}&duration={{ seconds }}"
>download as evidence (clips with signed manifests, zip)</a>
{% if may_protect %} <button id="protect">protect this hour</button>{% endif %}</p>
<script src="../static/hls.light.min.js"></script>
<script>
const camera = {{ camera|tojson }}, start = {{ start|tojson }}, end = {{ end|tojson }};
const source = "../hls/" + camera + "/index.m3u8?start=" + start + "&duration={{ seconds }}";
const video = document.getElementById("player"), status = document.getElementById("status");
let hls = null;
// hls.js first wherever MSE exists (hls.js's own advice; recent Chromium also says it plays
// HLS natively), the browser's own player only without MSE (Safari on iPhone).
if (window.Hls && Hls.isSupported()) {
  hls = new Hls();
  hls.on(Hls.Events.ERROR, (event, data) => {
    if (data.fatal) { status.textContent = "cannot play: " + data.details; }
  });
  hls.loadSource(source);
  hls.attachMedia(video);
} else if (video.canPlayType("application/vnd.apple.mpegurl")) {
  video.src = source;
}
video.play().catch(() => {});
// Gaps are left out of the player's time: the wall-clock time comes from the playlist's
// EXT-X-PROGRAM-DATE-TIME, which hls.js maps (Safari: not shown).
video.addEventListener("timeupdate", () => {
  const date = hls && hls.playingDate;
  if (date) {
    document.getElementById("clock").textContent = date.toLocaleString() + " (this browser's zone)";
  }
});
const timeline = document.getElementById("timeline");
timeline.addEventListener("click", (event) => {
  const box = timeline.getBoundingClientRect();
  const ms = Number(timeline.dataset.startMs) + (event.clientX - box.left) / box.width * 86400000;
  location.search = "?at=" + new Date(ms - ms % 60000).toISOString();
});
const button = document.getElementById("protect");
if (button) button.addEventListener("click", async () => {
  const reason = prompt("Why keep this hour (incident number)?");
  if (!reason) return;
  const answer = await fetch("../protect", {method: "POST",
    headers: {"Content-Type": "application/json"},
    body: JSON.stringify({path: camera, start: start, end: end, reason: reason})});
  const body = await answer.json();
  status.textContent = answer.ok ? "protected as #" + body.id : "not protected: " + body.error;
});
</script>
</body></html>
"""
