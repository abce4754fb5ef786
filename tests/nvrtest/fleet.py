"""A fleet of simulated sites reporting to one head office (issue 22; docs/design/fleet.md).

Each simulated site is the box's own uplink client without the video: a state file with the
real outbox (`nvr.core.tables.outbox.append` allocates the seqs), a `DestinationWorker` with
the `HeadOfficeAdapter` (its batching, Idempotency-Key and HMAC signature) and the uplink's
`Transport`. Nothing of the signing or sending is reimplemented here. What is simulated is
the box around it: reports appear at the real rates times a speed-up, and a bounded pool of
sender threads (one HTTP connection each) steps the sites that have something to send,
instead of one uplink thread per site.

Used by tests/bench/bench_fleet.py (1,000 sites) and its smoke test (tests/tools/fleet).
See docs/design/fleet.md, "The fleet simulator" and its invariants.
"""

from __future__ import annotations

import heapq
import itertools
import json
import math
import queue
import random
import shutil
import statistics
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
import yaml

from nvr.core.config.report import ReportConfig
from nvr.core.config.uplink import HttpDestination, UplinkConfig
from nvr.core.redact import Secret
from nvr.core.signing import HEADER_SITE
from nvr.core.state import StateStore
from nvr.core.tables.outbox import (
    HEAD_OFFICE,
    KIND_ALARM,
    KIND_DAILY_SUMMARY,
    KIND_EVENT,
    KIND_STATUS,
    append,
    cursor,
)
from nvr.core.timeutil import format_ms
from nvr.uplink.delivery.adapters import HeadOfficeAdapter
from nvr.uplink.delivery.pending import pending
from nvr.uplink.delivery.transport import Outcome, Request, TlsSettings, Transport, Verdict
from nvr.uplink.delivery.worker import DestinationWorker, RetryPolicy
from nvr_headoffice.store import ReportStore
from nvr_headoffice.summary import camera_days
from nvr_headoffice.verify import Envelope
from nvrtest import Child, wait_until
from nvrtest.headoffice import HEADOFFICE_BIN, SERVING

# The box's own defaults: the real report interval and the batch it sends when behind.
STATUS_INTERVAL_SECONDS = ReportConfig().status_interval_minutes * 60
BATCH_MAX = int(UplinkConfig.model_fields["batch_max_reports"].default)
TIMEOUT_SECONDS = float(HttpDestination.model_fields["timeout_seconds"].default)
_UPLINK = UplinkConfig()
RETRY_POLICY = RetryPolicy(
    initial=_UPLINK.retry_initial_seconds,
    maximum=_UPLINK.retry_max_seconds,
    circuit_failures=_UPLINK.circuit_failures,
    circuit_open_seconds=_UPLINK.circuit_open_seconds,
)
DAY_SECONDS = 86_400
# A site back after this long an outage sends its whole backlog (the 7 days).
LONG_OUTAGE_DAYS = 7
# The box's daemons, as a status report lists them.
DAEMONS = ("nvr-backup", "nvr-hddmon", "nvr-validator", "nvr-livestream", "nvr-report",
           "nvr-health", "nvr-uplink")  # fmt: skip
CHECKS = ("reachable", "codec", "black", "frozen", "blur", "dark")


@dataclass(frozen=True)
class FleetPlan:
    """What the fleet does. Rates are real ones (per site); `speedup` multiplies them.

    Events and alarms have no configured rate on the box (they follow the cameras); 2 event
    reports and 0.2 alarms per site-hour are our assumption of a busy site, after
    coalescing (at most one event report per camera per `event_coalesce_seconds`).
    """

    sites: int = 1_000
    speedup: float = 10.0
    minutes: float = 5.0
    history_days: float = 30.0
    cameras: int = 8
    connections: int = 16
    long_outage_fraction: float = 0.02  # dark for 7 days before the run; back during it
    short_outage_fraction: float = 0.05  # go dark during the run, come back, catch up
    resend_fraction: float = 0.02  # deliveries whose cursor commit a box crash lost
    events_per_hour: float = 2.0
    alarms_per_hour: float = 0.2
    seed: int = 22

    def site_ids(self) -> list[str]:
        """`site-0001` ..."""
        return [f"site-{i:04d}" for i in range(1, self.sites + 1)]


# -- report bodies -----------------------------------------------------------------------
def status_body(site_id: str, cameras: int, rng: random.Random) -> dict[str, Any]:
    """A status body shaped like nvr-report's (docs/design/outbox.md, "The envelope")."""
    troubled = rng.random() < 0.03  # a few sites need attention on the page
    cams = []
    for n in range(1, cameras + 1):
        down = troubled and n == 1
        percent = 61.5 if down else round(99.0 + rng.random(), 2)
        cams.append(
            {
                "id": f"cam{n:02d}",
                "name": f"{site_id} camera {n}",
                "enabled": True,
                "recording": {"state": "stalled" if down else "recording"},
                "coverage": {"percent": percent, "minutes_expected": 15, "gaps": []},
                "windows": {
                    "1h": {"percent": percent, "dropouts": int(down)},
                    "24h": {"percent": percent, "dropouts": int(down)},
                },
                "validation": [{"check": c, "status": "ok"} for c in CHECKS],
            }
        )
    failing = [{"name": "camera:cam01", "reason": "no new segment for 300 s"}] if troubled else []
    return {
        "period": {"minutes": STATUS_INTERVAL_SECONDS // 60},
        "cameras": cams,
        "disk": {"percent": round(rng.uniform(40, 92), 1), "smart": "ok", "deleted_today": 0},
        "daemons": [
            {"daemon": d, "age_s": rng.randint(0, 9), "stale": False, "recent_crashes": 0}
            for d in DAEMONS
        ],
        "health": {"status": "critical" if troubled else "ok", "failing": failing},
        "uplink": {HEAD_OFFICE: {"pending": 0}},
    }


def event_body(kind: str, cameras: int, rng: random.Random) -> dict[str, Any]:
    """An event or alarm body (a camera dropping out or coming back)."""
    camera = f"cam{rng.randint(1, cameras):02d}"
    critical = kind == KIND_ALARM
    event = "camera_offline" if critical or rng.random() < 0.5 else "camera_recovered"
    return {
        "event": event,
        "severity": "critical" if critical else "warning",
        "camera": camera,
        "camera_name": camera,
        "message": f"{camera}: no new segment for 130 s: camera stalled or network down",
        "count": 1,
        "data": {"source": "nvr-backup"},
    }


def report_body(kind: str, site_id: str, cameras: int, rng: random.Random) -> dict[str, Any]:
    """A body of `kind`."""
    if kind == KIND_STATUS:
        return status_body(site_id, cameras, rng)
    if kind == KIND_DAILY_SUMMARY:
        return {"day": "yesterday", "events": {"camera_offline": rng.randint(0, 9)}}
    return event_body(kind, cameras, rng)


def day_of_reports(plan: FleetPlan, rng: random.Random) -> list[tuple[float, str]]:
    """One real day of a site's reports: (seconds into the day, kind), in time order."""
    per_day = DAY_SECONDS // STATUS_INTERVAL_SECONDS
    times = [(i * STATUS_INTERVAL_SECONDS + 0.0, KIND_STATUS) for i in range(per_day)]
    for kind, per_hour in ((KIND_EVENT, plan.events_per_hour), (KIND_ALARM, plan.alarms_per_hour)):
        times += [(rng.uniform(0, DAY_SECONDS), kind) for _ in range(_poisson(rng, per_hour * 24))]
    times.append((300.0, KIND_DAILY_SUMMARY))
    return sorted(times)


def _poisson(rng: random.Random, mean: float) -> int:
    """A Poisson count (Knuth's method; the means here are small)."""
    limit, count, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


# -- the head office --------------------------------------------------------------------
def write_sites_file(path: Path, secrets: dict[str, str]) -> Path:
    """nvr-headoffice's sites file: every simulated site with its own secret."""
    sites = {site: {"secret": secret, "name": f"Plant {site}"} for site, secret in secrets.items()}
    path.write_text(yaml.safe_dump({"sites": sites, "replay_window_seconds": 300}))
    return path


class HeadOfficeProcess(Child):
    """nvr-headoffice as an operator starts it, on SQLite (a path) or PostgreSQL (a URL)."""

    def __init__(self, root: Path, sites: Path, database: str, *extra: str) -> None:
        super().__init__(root, "headoffice")
        argv = [HEADOFFICE_BIN, "--listen", "127.0.0.1:0", "--database", database]
        log = self.spawn([*argv, "--sites", str(sites), *extra])
        match = wait_until(lambda: SERVING.search(log.read_text()) or self._died(), 60, "serving")
        self.url = f"http://127.0.0.1:{match.group(1)}"

    def _died(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"nvr-headoffice exited {self.proc.returncode}: {self.log()}")
        return False

    def get_json(self, path: str) -> Any:
        """GET a JSON view."""
        response = requests.get(self.url + path, timeout=60)
        response.raise_for_status()
        return response.json()


# -- measuring what the sites see ------------------------------------------------------
@dataclass
class Ledger:
    """Every POST's latency and outcome, and the report ids head office acknowledged."""

    latencies: list[tuple[float, int]] = field(default_factory=list)  # (seconds, reports)
    verdicts: Counter[str] = field(default_factory=Counter)
    acked: dict[str, set[str]] = field(default_factory=dict)
    resent: int = 0  # reports sent again after a lost cursor commit (all acknowledged)
    unanswered: int = 0  # reports in POSTs not acknowledged (a timeout, a 503): sent again
    lock: threading.Lock = field(default_factory=threading.Lock)

    def note(self, request: Request, outcome: Outcome, seconds: float) -> None:
        """Book one POST."""
        with self.lock:
            self.latencies.append((seconds, len(request.rows)))
            self.verdicts[outcome.verdict.value] += 1
            if outcome.verdict is not Verdict.DELIVERED:
                self.unanswered += len(request.rows)
            else:
                ids = self.acked.setdefault(request.headers[HEADER_SITE], set())
                ids.update(row.report_id for row in request.rows)

    def acked_count(self, site_id: str) -> int:
        """Distinct reports of a site that head office acknowledged."""
        with self.lock:
            return len(self.acked.get(site_id, ()))

    def summary(self, seconds: float) -> dict[str, Any]:
        """Requests, reports acknowledged per second, latency percentiles (ms)."""
        with self.lock:
            lat = list(self.latencies)
            acked = sum(len(ids) for ids in self.acked.values())
        singles = [s for s, n in lat if n == 1]
        batches = [s for s, n in lat if n > 1]
        return {
            "posts": len(lat),
            "reports_acknowledged": acked,
            "reports_per_second": round(acked / seconds, 1) if seconds else None,
            "seconds": round(seconds, 1),
            "verdicts": dict(self.verdicts),
            "latency_ms": percentiles([s for s, _ in lat]),
            "latency_ms_single_report": percentiles(singles),
            "latency_ms_batches": percentiles(batches),
            "largest_batch": max((n for _, n in lat), default=0),
        }


def percentiles(samples: list[float]) -> dict[str, float | int | None]:
    """p50, p99 and max in milliseconds, and how many samples."""
    if not samples:
        return {"n": 0, "p50": None, "p99": None, "max": None}
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, math.ceil(0.99 * len(ordered)) - 1)]
    return {
        "n": len(ordered),
        "p50": round(statistics.median(ordered) * 1000, 1),
        "p99": round(p99 * 1000, 1),
        "max": round(ordered[-1] * 1000, 1),
    }


@dataclass
class TimedTransport(Transport):
    """The uplink's Transport, timing each POST into a ledger (one per sender thread)."""

    ledger: Ledger = field(default_factory=Ledger)

    def send(self, request: Request) -> Outcome:
        """Send as the uplink does, and book it."""
        started = time.perf_counter()
        outcome = super().send(request)
        self.ledger.note(request, outcome, time.perf_counter() - started)
        return outcome


def new_transport(ledger: Ledger) -> TimedTransport:
    """A transport with its own keep-alive connection, as a box's uplink has."""
    return TimedTransport(TIMEOUT_SECONDS, TlsSettings(), requests.Session(), ledger)


# -- the sites ----------------------------------------------------------------------------
class FleetSite:
    """One box's uplink: its state file (outbox, seqs, cursor) and its head-office worker."""

    def __init__(self, site_id: str, secret: str, state_file: Path, url: str) -> None:
        self.site_id = site_id
        self.secret = Secret(secret)
        self.state_file = state_file
        self.adapter = HeadOfficeAdapter(url, site_id, self.secret, BATCH_MAX)
        self.worker = DestinationWorker(
            self.adapter, new_transport(Ledger()), state_file, RETRY_POLICY
        )
        self.appended = 0  # reports put in the outbox during the run
        self.history_last_seq = 0  # seqs up to this one were pre-filled at head office
        self.dark = False
        self.scheduled = False  # in the send queue or being sent
        self.dirty = False  # new reports while scheduled

    def append_reports(self, kinds: list[str], cameras: int, rng: random.Random) -> None:
        """Put reports into the outbox as nvr-report does (one transaction)."""
        with StateStore.open(self.state_file) as store, store.write() as conn:
            for kind in kinds:
                append(conn, self.site_id, kind, report_body(kind, self.site_id, cameras, rng))
        self.appended += len(kinds)

    def continue_after(self, last_seq: int) -> None:
        """The outbox's seq counter after the pre-filled history: the next report is +1."""
        self.history_last_seq = last_seq
        with StateStore.open(self.state_file) as store, store.write() as conn:
            conn.execute(
                "INSERT INTO outbox_seq (site_id, last_seq) VALUES (?, ?)", (self.site_id, last_seq)
            )


def make_state_files(root: Path, count: int) -> list[Path]:
    """Migrated state files, copied from one (migrating each would take minutes)."""
    root.mkdir(parents=True, exist_ok=True)
    template = root / "template.db"
    StateStore.open(template).close()
    paths = []
    for i in range(count):
        path = root / f"site-{i:04d}.db"
        shutil.copyfile(template, path)
        paths.append(path)
    return paths


# -- pre-filling head office with history ------------------------------------------------
# Distinct bodies per site and kind in the history: generating 4 million bodies one by one
# would take longer than the whole live run.
BODY_VARIANTS = 4
# The newest reports of a pre-filled history go through head office's own ingest.
STORED_TAIL = 20
HistoryRow = tuple[str, str, int, str, str, int, str]  # a `reports` row


def history(
    plan: FleetPlan, site_id: str, days: float, end_s: float, rng: random.Random
) -> list[HistoryRow]:
    """`days` of a site's reports ending at `end_s`, as head office stores them.

    Received when created: a site that was up delivered each report within seconds.
    """
    variants = {
        kind: [
            json.dumps(report_body(kind, site_id, plan.cameras, rng), separators=(",", ":"),
                       sort_keys=True)
            for _ in range(BODY_VARIANTS)
        ]
        for kind in (KIND_STATUS, KIND_EVENT, KIND_ALARM, KIND_DAILY_SUMMARY)
    }  # fmt: skip
    start_s = end_s - days * DAY_SECONDS
    rows: list[HistoryRow] = []
    for day in range(math.ceil(days)):
        for offset, kind in day_of_reports(plan, rng):
            at_ms = int((start_s + day * DAY_SECONDS + offset) * 1000)
            if at_ms >= end_s * 1000:
                return rows
            body = variants[kind][rng.randrange(BODY_VARIANTS)]
            rows.append(
                (str(uuid.uuid4()), site_id, len(rows) + 1, kind, format_ms(at_ms), at_ms, body)
            )
    return rows


def load_history(store: ReportStore, site_id: str, rows: list[HistoryRow]) -> int:
    """A contiguous history into head office's database; its last seq.

    All but the newest `STORED_TAIL` reports go straight into the tables, as
    `ReportStore.store` would leave them after receiving them in order (the rows, the
    site's counters, kinds and per-day camera coverage; no gaps, the seqs being 1..n), in
    one statement per table: the store's own path runs at a few thousand reports/s on this
    machine, and 30 days of 1,000 sites are four million reports. The newest ones then go
    through `ReportStore.store` itself, so the site's latest status and whatever else head
    office keeps at ingest are its own. The live run uses the real POST path only.
    """
    if not rows:
        return 0
    bulk, tail = rows[:-STORED_TAIL], rows[-STORED_TAIL:]
    if bulk:
        _insert_rows(store, site_id, bulk)
    envelopes = [Envelope(r[0], r[1], r[2], r[3], r[4], json.loads(r[6])) for r in tail]
    store.store(site_id, envelopes, tail[-1][5])
    return len(rows)


def _insert_rows(store: ReportStore, site_id: str, rows: list[HistoryRow]) -> None:
    kinds = Counter(row[3] for row in rows)
    coverage: dict[tuple[str, str], list[float]] = {}
    bodies: dict[str, dict[str, Any]] = {}
    for row in rows:
        if row[3] == KIND_STATUS:
            body = bodies.setdefault(row[6], json.loads(row[6]))
            for camera, day, percent in camera_days(body, row[4]):
                coverage.setdefault((camera, day), []).append(percent)
    with store.engine.transaction() as conn:
        conn.executemany(
            "INSERT INTO reports (id, site_id, seq, kind, created_at, received_at_ms, body_json)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        conn.execute(
            "INSERT INTO sites (site_id, reports, first_seq, last_seq, last_report_at_ms)"
            " VALUES (?, ?, 1, ?, ?)",
            (site_id, len(rows), len(rows), rows[-1][5]),
        )
        conn.executemany(
            "INSERT INTO site_kinds (site_id, kind, reports) VALUES (?, ?, ?)",
            [(site_id, kind, count) for kind, count in kinds.items()],
        )
        conn.executemany(
            "INSERT INTO camera_days (site_id, camera, day, percent_sum, samples)"
            " VALUES (?, ?, ?, ?, ?)",
            [(site_id, cam, day, sum(p), len(p)) for (cam, day), p in coverage.items()],
        )


# -- the live run --------------------------------------------------------------------------
class SendQueue:
    """Sites with something to send; each is in it (or being sent) at most once."""

    def __init__(self) -> None:
        self.ready: queue.Queue[FleetSite | None] = queue.Queue()
        self.lock = threading.Lock()

    def wake(self, site: FleetSite) -> None:
        """New reports (or the WAN is back): send them unless the site is dark."""
        with self.lock:
            if site.dark:
                return
            if site.scheduled:
                site.dirty = True
                return
            site.scheduled = True
        self.ready.put(site)

    def begin(self, site: FleetSite) -> None:
        """A sender takes the site: reports appended from now on call for another step."""
        with self.lock:
            site.dirty = False

    def finish(self, site: FleetSite, more: bool) -> bool:
        """After a step: True when the site goes back into the queue at once."""
        with self.lock:
            if (more or site.dirty) and not site.dark:
                site.dirty = False
                requeue = True
            else:
                site.scheduled = False
                requeue = False
        if requeue:
            self.ready.put(site)
        return requeue


@dataclass(order=True)
class _Due:
    at: float
    order: int
    action: str = field(compare=False)
    site: FleetSite = field(compare=False)


class FleetRun:
    """Generates reports on the sites' clocks and sends them through a pool of connections."""

    def __init__(self, plan: FleetPlan, sites: list[FleetSite], ledger: Ledger) -> None:
        self.plan = plan
        self.sites = sites
        self.ledger = ledger
        self.rng = random.Random(plan.seed)
        self.queue = SendQueue()
        self.heap: list[_Due] = []
        self.heap_lock = threading.Lock()
        self.order = itertools.count()
        self.senders: list[threading.Thread] = []
        self.send_errors: list[str] = []
        self._appended_before = {site.site_id: site.appended for site in sites}

    # -- scheduling -------------------------------------------------------------------------
    def at(self, when: float, action: str, site: FleetSite) -> None:
        """Do `action` for `site` at monotonic time `when`."""
        with self.heap_lock:
            heapq.heappush(self.heap, _Due(when, next(self.order), action, site))

    def _interval(self, per_hour: float) -> float:
        """Wall seconds to the next event of a Poisson process at `per_hour` (real)."""
        return self.rng.expovariate(per_hour * self.plan.speedup / 3600)

    def schedule(self, start: float, long_outage: list[FleetSite], duration: float) -> None:
        """Every site's first reports, and the outages of the run."""
        status_every = STATUS_INTERVAL_SECONDS / self.plan.speedup
        for site in self.sites:
            self.at(start + self.rng.uniform(0, status_every), KIND_STATUS, site)
            self.at(start + self._interval(self.plan.events_per_hour), KIND_EVENT, site)
            self.at(start + self._interval(self.plan.alarms_per_hour), KIND_ALARM, site)
        for site in long_outage:
            site.dark = True
            self.at(start + self.rng.uniform(0.05, 0.6) * duration, "back", site)
        others = [s for s in self.sites if s not in long_outage]
        short = self.rng.sample(others, round(self.plan.short_outage_fraction * len(self.sites)))
        for site in short:
            dark_at = start + self.rng.uniform(0.05, 0.5) * duration
            self.at(dark_at, "dark", site)
            self.at(dark_at + self.rng.uniform(0.1, 0.4) * duration, "back", site)

    def _due(self, now: float) -> list[_Due]:
        with self.heap_lock:
            due = []
            while self.heap and self.heap[0].at <= now:
                due.append(heapq.heappop(self.heap))
            return due

    def _act(self, due: _Due, generating: bool) -> None:
        site = due.site
        if due.action == "dark":
            site.dark = True
        elif due.action == "back":
            site.dark = False
            self.queue.wake(site)
        elif due.action == "retry":
            self.queue.wake(site)
        elif generating:
            site.append_reports([due.action], self.plan.cameras, self.rng)
            self.queue.wake(site)
            self.at(due.at + self._next_in(due.action), due.action, site)

    def _next_in(self, kind: str) -> float:
        """Wall seconds to a site's next report of `kind`."""
        if kind == KIND_STATUS:
            return STATUS_INTERVAL_SECONDS / self.plan.speedup
        per_hour = self.plan.events_per_hour if kind == KIND_EVENT else self.plan.alarms_per_hour
        return self._interval(per_hour)

    # -- sending ----------------------------------------------------------------------------
    def start_senders(self) -> None:
        """The pool: one thread and one keep-alive connection each."""
        for n in range(self.plan.connections):
            thread = threading.Thread(target=self._sender, name=f"sender-{n}", daemon=True)
            thread.start()
            self.senders.append(thread)

    def _sender(self) -> None:
        transport = new_transport(self.ledger)
        rng = random.Random(self.plan.seed + threading.get_ident())
        while (site := self.queue.ready.get()) is not None:
            try:
                self._step(site, transport, rng)
            except Exception as err:  # a bench must report, not hang, on a bug
                self.send_errors.append(f"{site.site_id}: {err!r}")
                self.queue.finish(site, more=False)

    def _step(self, site: FleetSite, transport: TimedTransport, rng: random.Random) -> None:
        """One uplink step for `site` over this thread's connection."""
        self.queue.begin(site)
        site.worker.transport = transport
        with StateStore.open(site.state_file) as store:
            before = cursor(store.read(), HEAD_OFFICE)
            wait = site.worker.step(store)
            after = cursor(store.read(), HEAD_OFFICE)
            if after > before and rng.random() < self.plan.resend_fraction:
                self._lose_cursor_commit(store, before, after)
            more = bool(pending(store, HEAD_OFFICE, 1))
        if more and wait > 0:
            # Backing off after a failure: the worker said when to try again.
            self.queue.finish(site, more=False)
            self.at(time.monotonic() + wait, "retry", site)
            return
        self.queue.finish(site, more=more)

    def _lose_cursor_commit(self, store: StateStore, before: int, after: int) -> None:
        """What a box killed between head office's 200 and its cursor commit leaves behind:
        the cursor where it was, so the same reports go again (outbox.md, invariant 4)."""
        with store.write() as conn:
            conn.execute(
                "UPDATE uplink_cursors SET last_id = ? WHERE destination = ?", (before, HEAD_OFFICE)
            )
            count = conn.execute(
                "SELECT count(*) FROM outbox WHERE id > ? AND id <= ?", (before, after)
            ).fetchone()[0]
        with self.ledger.lock:
            self.ledger.resent += int(count)

    # -- the whole run ----------------------------------------------------------------------
    def run(self, seconds: float, long_outage: list[FleetSite], drain_timeout: float) -> float:
        """Generate for `seconds`, then end every outage and wait for every outbox to drain.

        Returns the seconds from start until head office acknowledged the last report.
        """
        start = time.monotonic()
        self.schedule(start, long_outage, seconds)
        self.start_senders()
        try:
            while (now := time.monotonic()) < start + seconds:
                for due in self._due(now):
                    self._act(due, generating=True)
                time.sleep(0.02)
            for site in self.sites:  # the run ends: every WAN comes back
                if site.dark:
                    site.dark = False
                    self.queue.wake(site)
            self._drain(drain_timeout)
        finally:
            self._stop_senders()
        return time.monotonic() - start

    def catch_up(self, drain_timeout: float) -> float:
        """Every site sends what its outbox holds, all at once (head office was down).

        Returns the seconds until head office acknowledged the last report.
        """
        start = time.monotonic()
        self.start_senders()
        try:
            for site in self.sites:
                self.queue.wake(site)
            self._drain(drain_timeout)
        finally:
            self._stop_senders()
        return time.monotonic() - start

    def _drain(self, timeout: float) -> None:
        """Wait until every outbox is delivered (retries keep their schedule meanwhile)."""
        deadline = time.monotonic() + timeout
        while not self.drained() and time.monotonic() < deadline:
            for due in self._due(time.monotonic()):
                self._act(due, generating=False)
            time.sleep(0.1)

    def _stop_senders(self) -> None:
        for _ in self.senders:
            self.queue.ready.put(None)
        for thread in self.senders:
            thread.join(TIMEOUT_SECONDS + 5)
        self.senders = []

    def drained(self) -> bool:
        """Every outbox is delivered: acknowledged, and nothing left to send again.

        Acknowledged is not enough: a site whose cursor commit was lost holds acknowledged
        reports it has yet to send again, which is the duplicate head office must count
        (docs/design/fleet.md, invariant 2).
        """
        acked = all(
            self.ledger.acked_count(s.site_id) >= s.appended - self._appended_before[s.site_id]
            for s in self.sites
        )
        with self.queue.lock:
            busy = any(s.scheduled or s.dark for s in self.sites)
        with self.heap_lock:
            retrying = any(due.action == "retry" for due in self.heap)
        return acked and not busy and not retrying and not any(map(_has_pending, self.sites))


def _has_pending(site: FleetSite) -> bool:
    with StateStore.open(site.state_file) as store:
        return bool(pending(store, HEAD_OFFICE, 1))


def queue_outage(plan: FleetPlan, sites: list[FleetSite], hours: float) -> int:
    """`hours` of reports in every site's outbox, as a head-office outage leaves them."""
    total = 0
    for site in sites:
        rng = random.Random(f"{plan.seed}-outage-{site.site_id}")
        kinds = [k for at, k in day_of_reports(plan, rng) if at < hours * 3600]
        site.append_reports(kinds, plan.cameras, rng)
        total += len(kinds)
    return total


# -- checking head office afterwards --------------------------------------------------------
def stored_ids(head_office: HeadOfficeProcess, site: FleetSite) -> list[str]:
    """Ids head office stored for `site` after its pre-filled history, through its API."""
    ids: list[str] = []
    after = site.history_last_seq
    while True:
        page = head_office.get_json(
            f"/api/sites/{site.site_id}/reports?after_seq={after}&limit=1000"
        )
        ids += [report["id"] for report in page]
        if len(page) < 1000:
            return ids
        after = page[-1]["seq"]


def audit(
    head_office: HeadOfficeProcess, sites: list[FleetSite], ledgers: list[Ledger]
) -> dict[str, Any]:
    """Lost (acknowledged, not stored), duplicates stored, and head office's own counters.

    Read through head office's API, on either engine (docs/design/fleet.md, invariant 3).
    """
    summaries = {s["site_id"]: s for s in head_office.get_json("/api/sites")}
    lost = stored_twice = missing = seq_reused = counted = unacked = 0
    for site in sites:
        ids = stored_ids(head_office, site)
        acked = set().union(*(ledger.acked.get(site.site_id, set()) for ledger in ledgers))
        lost += len(acked - set(ids))
        stored_twice += len(ids) - len(set(ids))
        unacked += site.appended - len(acked)
        summary = summaries.get(site.site_id, {})
        missing += int(summary.get("missing", 0))
        seq_reused += int(summary.get("seq_reused", 0))
        counted += int(summary.get("duplicates", 0))
    return {
        "lost": lost,
        "duplicates_stored": stored_twice + seq_reused,
        "resent_by_sites": sum(ledger.resent for ledger in ledgers),
        "unanswered_then_resent": sum(ledger.unanswered for ledger in ledgers),
        "duplicates_counted_by_head_office": counted,
        "missing_seqs": missing,
        "not_acknowledged_at_end": unacked,
    }


def time_views(head_office: HeadOfficeProcess, samples: int) -> dict[str, Any]:
    """Response times (ms) of the overview page and /api/sites, as a person or a NOC sees them."""
    result: dict[str, Any] = {}
    for path in ("/", "/api/sites"):
        times, size = [], 0
        for _ in range(samples):
            started = time.perf_counter()
            response = requests.get(head_office.url + path, timeout=120)
            times.append(time.perf_counter() - started)
            response.raise_for_status()
            size = len(response.content)
        result[path] = {**percentiles(times), "median": round(statistics.median(times) * 1000, 1),
                        "bytes": size}  # fmt: skip
    return result
