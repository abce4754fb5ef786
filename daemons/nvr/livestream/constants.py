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
# How cameras are pulled: TCP survives lossy site networks without smeared pictures.
CAMERA_RTSP_TRANSPORT = "tcp"
# mediamtx path names that are not cameras and that we never touch.
RESERVED_PATHS = frozenset({"all", "all_others"})
# The auth callback, on the API's listen address but answered for loopback callers only.
AUTH_ROUTE = "/mediamtx/auth"
LOOPBACK = frozenset({"127.0.0.1", "::1", "::ffff:127.0.0.1"})
# Verified (user, password) pairs are remembered this long, so HLS segment requests do not
# each cost a scrypt computation; a config reload clears the memory.
VERIFIED_TTL_SECONDS = 60.0
VERIFIED_MAX_ENTRIES = 1024
# scrypt parameters for new hashes (n = 2**14, r = 8, p = 1: ~16 MiB, ~50 ms per check).
SCRYPT_LOG2_N = 14
SCRYPT_R = 8
SCRYPT_P = 1
SCRYPT_SALT_BYTES = 16
SCRYPT_KEY_BYTES = 32
WSGI_THREADS = 8
# Failed viewer logins (nvr.livestream.throttle): past this many failures within the window,
# from one address or on one account, attempts are refused unchecked until the oldest ages
# out. 10 per 5 minutes leaves room for typos; a guesser gets ~3,000 guesses a day per address.
WINDOW_SECONDS = 300.0
CLIENT_FAILURES = 10
# Higher than the per-address limit, so one guesser alone cannot lock a viewer out.
ACCOUNT_FAILURES = 30
# Memory bound on counted addresses and names (a spray of made-up names or addresses).
THROTTLE_MAX_KEYS = 10_000
