"""Intervals, timeouts and names of nvr-livestream, in one place."""

from __future__ import annotations

# The main loop polls mediamtx's live state this often (cheap: one GET of /v3/paths/list);
# a poll that finds mediamtx back after an outage reconciles at once, so a restarted
# mediamtx gets its paths back within about this many seconds.
TICK_SECONDS = 1.0
API_TIMEOUT_SECONDS = 3.0
ITEMS_PER_PAGE = 500
# The API tested against; another version is used but logged once as untested.
TESTED_MEDIAMTX_VERSION = "v1.20.1"
# mediamtx path names that are not cameras and that we never touch.
RESERVED_PATHS = frozenset({"all", "all_others"})
# The auth callback, on the API's listen address but answered for loopback callers only.
AUTH_ROUTE = "/mediamtx/auth"
# The user nvr-livestream calls mediamtx's API as; its password is livestream's own
# (docs/design/security.md, invariant 5).
MEDIAMTX_API_USER = "nvr-livestream"
LOOPBACK = frozenset({"127.0.0.1", "::1", "::ffff:127.0.0.1"})
# Up to 8 of them can be busy sending downloads (playback.MAX_CLIP_STREAMS); the others
# answer logins, mediamtx's auth callback and HLS.
WSGI_THREADS = 16
# The largest body is mediamtx's auth question (a few hundred bytes of JSON, with the
# viewer's query string and token); the viewer API takes GETs and the playback page's
# small POST /protect. More is answered 413.
MAX_REQUEST_BODY_BYTES = 64 * 1024
