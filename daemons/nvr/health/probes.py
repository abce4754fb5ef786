"""The few things nvr-health looks at outside the state file, probed by the daemon's tick.

A request never waits on them: the tick refreshes `ProbeBoard` every few seconds and
requests read the latest results (docs/design/health.md, invariant 2).
"""

from __future__ import annotations

import logging
import os
import subprocess
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import requests

from nvr.core.config import Config
from nvr.core.config.health import MediamtxCheck
from nvr.core.process import run_command
from nvr.core.timesync import TimeSync, probe_time_sync
from nvr.health.constants import (
    MEDIAMTX_PATHS,
    MEDIAMTX_TIMEOUT_SECONDS,
    SYSTEMD_RUN_DIR,
    TIME_SYNC_MS,
)

log = logging.getLogger(__name__)

# (url, timeout) -> HTTP status code; raises OSError/requests errors when unreachable.
HttpGet = Callable[[str, float], int]
# argv -> stdout; raises OSError or subprocess errors.
Runner = Callable[[Sequence[str]], str]


@dataclass(frozen=True)
class MediamtxResult:
    """Whether mediamtx's control API answered, and when we asked."""

    reachable: bool
    detail: str
    probed_at_ms: int


@dataclass(frozen=True)
class ProbeResults:
    """The latest probe results; None where a probe has not run or does not apply."""

    mediamtx: MediamtxResult | None = None
    systemd: dict[str, str] = field(default_factory=dict)  # unit -> "active/running"
    systemd_running: bool = False
    mounted: bool | None = None  # None: storage.require_mount is off
    time_sync: TimeSync | None = None


def http_get(url: str, timeout: float) -> int:
    """GET `url`, returning the status code (the body is not needed)."""
    return requests.get(url, timeout=timeout).status_code


def probe_mediamtx(api: str, get: HttpGet, now_ms: int) -> MediamtxResult:
    """One quick GET of the paths list; the reason names the URL and the error."""
    url = api.rstrip("/") + MEDIAMTX_PATHS
    try:
        code = get(url, MEDIAMTX_TIMEOUT_SECONDS)
    except (OSError, requests.RequestException) as err:
        return MediamtxResult(
            False, f"mediamtx API {url} unreachable: {type(err).__name__}", now_ms
        )
    # 401: mediamtx answers but its API takes nvr-livestream's credentials only, which
    # nvr-health does not hold (docs/design/security.md, invariant 5): it is up.
    if code not in (200, 401):
        return MediamtxResult(False, f"mediamtx API {url} answered HTTP {code}", now_ms)
    return MediamtxResult(True, f"mediamtx API {url} answered", now_ms)


def probe_systemd(units: Sequence[str], run: Runner) -> dict[str, str]:
    """`ActiveState/SubState` of each unit, e.g. `active/running` or `failed/failed`."""
    states: dict[str, str] = {}
    for unit in units:
        try:
            out = run(["systemctl", "show", "-p", "ActiveState,SubState", f"{unit}.service"])
        except (OSError, subprocess.SubprocessError) as err:
            states[unit] = f"unknown ({type(err).__name__})"
            continue
        values = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
        states[unit] = f"{values.get('ActiveState', '?')}/{values.get('SubState', '?')}"
    return states


class ProbeBoard:
    """The latest results, written by the tick thread, read by request threads."""

    def __init__(
        self,
        get: HttpGet = http_get,
        run: Runner = run_command,
        systemd_dir: Path = Path(SYSTEMD_RUN_DIR),
    ) -> None:
        self._get = get
        self._run = run
        self._systemd_dir = systemd_dir
        self._lock = threading.Lock()
        self._results = ProbeResults()
        self._time_sync: TimeSync | None = None
        self._time_sync_at_ms = 0

    @property
    def results(self) -> ProbeResults:
        """The latest results (an immutable snapshot)."""
        with self._lock:
            return self._results

    def refresh(self, config: Config, now_ms: int, livestream_in_use: bool) -> ProbeResults:
        """Probe everything that applies and publish the results."""
        results = ProbeResults(
            mediamtx=self._mediamtx(config, now_ms, livestream_in_use),
            systemd_running=self._systemd_dir.is_dir(),
            systemd=self._systemd(config),
            mounted=(
                os.path.ismount(config.storage.recordings_dir)
                if config.storage.require_mount
                else None
            ),
            time_sync=self._clock(now_ms),
        )
        with self._lock:
            self._results = results
        return results

    def _mediamtx(self, config: Config, now_ms: int, in_use: bool) -> MediamtxResult | None:
        mode = config.health.mediamtx_check
        if mode is MediamtxCheck.NEVER or (mode is MediamtxCheck.AUTO and not in_use):
            return None
        return probe_mediamtx(config.livestream.mediamtx_api, self._get, now_ms)

    def _clock(self, now_ms: int) -> TimeSync:
        # Synchronisation changes slowly, and timedatectl may start timedated on each call.
        # abs(): after the wall clock stepped back, probe again rather than wait.
        if self._time_sync is None or abs(now_ms - self._time_sync_at_ms) >= TIME_SYNC_MS:
            self._time_sync, self._time_sync_at_ms = probe_time_sync(self._run), now_ms
        return self._time_sync

    def _systemd(self, config: Config) -> dict[str, str]:
        # systemd is PID 1 only when this directory exists; under supervisord the
        # heartbeats are the only liveness signal (docs/design/health.md, invariant 2).
        if not self._systemd_dir.is_dir():
            return {}
        return probe_systemd(config.health.daemons, self._run)
