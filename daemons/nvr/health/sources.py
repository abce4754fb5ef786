"""Where answers come from: the state file (one read-only connection per thread) and probes."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from nvr.core.config import Config
from nvr.core.state import BUSY_TIMEOUT_MS, now_ms
from nvr.health.checks import run_checks
from nvr.health.constants import REPORT_CACHE_SECONDS, TOTALS_CACHE_SECONDS
from nvr.health.errors import HealthError
from nvr.health.facts import Facts, gather
from nvr.health.model import HealthReport
from nvr.health.probes import ProbeBoard

Clock = Callable[[], int]  # UTC epoch milliseconds
Verdict = tuple[Facts, HealthReport, dict[str, str]]


@dataclass(frozen=True)
class Totals:
    """Counts that need a scan of the whole index, refreshed at most every 30 s."""

    segments: dict[str, tuple[int, int]]  # camera -> (segments, bytes)
    restarts: dict[tuple[str, str], int]  # (camera, end reason) -> runs ended
    taken_at: float


def open_readonly(path: Path) -> sqlite3.Connection:
    """A read-only connection: nvr-health never writes other daemons' rows (invariant 3)."""
    try:
        conn = sqlite3.connect(
            f"file:{path}?mode=ro",
            uri=True,
            timeout=BUSY_TIMEOUT_MS / 1000,
            check_same_thread=True,
        )
    except sqlite3.Error as err:
        raise HealthError(f"state file {path}: cannot open read-only: {err}") from err
    return conn


class Sources:
    """Shared by the request threads; each thread gets its own connection."""

    def __init__(
        self,
        config: Config,
        probes: ProbeBoard,
        clock: Clock = now_ms,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.probes = probes
        self.clock = clock
        self._monotonic = monotonic
        self._local = threading.local()
        self._totals: Totals | None = None
        self._totals_lock = threading.Lock()
        self._report: tuple[float, Verdict] | None = None
        self._report_lock = threading.Lock()

    def connection(self) -> sqlite3.Connection:
        """The calling thread's read-only connection to the state file."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = open_readonly(self.config.storage.state_file)
            self._local.conn = conn
        return conn

    def facts(self) -> Facts:
        """Everything the checks look at, read now."""
        return gather(self.connection(), self.config, self.clock(), self.probes.results)

    def report(self) -> Verdict:
        """Facts, the checks' verdict and the skipped checks, at most a second old."""
        with self._report_lock:
            cached = self._report
            if cached is not None and self._monotonic() - cached[0] < REPORT_CACHE_SECONDS:
                return cached[1]
            facts = self.facts()
            report, skipped = run_checks(facts)
            verdict = (facts, report, skipped)
            self._report = (self._monotonic(), verdict)
            return verdict

    def totals(self) -> Totals:
        """Per-camera segment counts and bytes, ffmpeg restarts by reason (cached)."""
        with self._totals_lock:
            cached = self._totals
            if cached is None or self._monotonic() - cached.taken_at > TOTALS_CACHE_SECONDS:
                cached = self._read_totals()
                self._totals = cached
            return cached

    def _read_totals(self) -> Totals:
        conn = self.connection()
        segments = {
            row[0]: (int(row[1]), int(row[2] or 0))
            for row in conn.execute(
                "SELECT camera, count(*), sum(bytes) FROM segments WHERE status = 'ok'"
                " GROUP BY camera"
            )
        }
        restarts = {
            (row[0], row[1]): int(row[2])
            for row in conn.execute(
                "SELECT camera, coalesce(end_reason, 'unknown'), count(*) FROM recording_runs"
                " WHERE ended_at_ms IS NOT NULL AND coalesce(end_reason, '') != 'shutdown'"
                " GROUP BY camera, end_reason"
            )
        }
        return Totals(segments, restarts, self._monotonic())
