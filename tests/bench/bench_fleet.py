"""Benchmark of head office at fleet scale: 1,000 simulated signing sites, SQLite and PostgreSQL.

    .venv/bin/python tests/bench/bench_fleet.py [--sites N] [--speedup X] [--minutes M]
        [--days D] [--connections C] [--backends sqlite,postgresql] [--results DIR]

For each backend, the same run on a fresh database, against a real nvr-headoffice process:
1. Pre-fill: every site POSTs `--days` of history (status every 15 min as the box's default,
   events, alarms, a daily summary) at full speed, in the box's batches of 500, through the
   box's own adapter and transport. This is also the batched capacity figure.
2. The overview page and `/api/sites` are timed with that history in place.
3. Live: `--minutes` of reports at `--speedup` times the real rate, through a pool of
   `--connections` connections; some sites come back from a 7-day outage with their
   backlog, others go dark during the run and catch up, and a few deliveries are re-sent
   as after a box crash between head office's 200 and its cursor commit.
4. Audit through head office's API: lost (acknowledged, not stored), duplicates stored,
   duplicates counted (must equal the re-sends), missing seqs.

The simulated sites are described in tests/nvrtest/fleet.py; their state files live on
tmpfs (/dev/shm) so the sites' own fsyncs do not compete with head office's on the disk.
Writes tests/bench/results/fleet.json and fleet.md. Targets (issue 22): p99 of a POST under
100 ms, 0 lost, 0 duplicates stored, the sites page under 1 s.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import sqlite3
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchlib import RESULTS, machine, write_results

from nvr_headoffice.store import ReportStore
from nvrtest.fleet import (
    BATCH_MAX,
    DAY_SECONDS,
    LONG_OUTAGE_DAYS,
    STATUS_INTERVAL_SECONDS,
    STORED_TAIL,
    FleetPlan,
    FleetRun,
    FleetSite,
    HeadOfficeProcess,
    Ledger,
    audit,
    day_of_reports,
    history,
    load_history,
    make_state_files,
    queue_outage,
    time_views,
    write_sites_file,
)
from nvrtest.postgres import PostgresServer

TARGET_P99_MS = 100.0
TARGET_PAGE_MS = 1_000.0
VIEW_SAMPLES = 5
PREFILL_THREADS = 2
DRAIN_TIMEOUT_SECONDS = 600.0
# A morning without head office (a deploy gone wrong): every site queues this much.
HEAD_OFFICE_OUTAGE_HOURS = 6
BACKENDS = ("sqlite", "postgresql")


@contextlib.contextmanager
def database(backend: str, root: Path) -> Iterator[str]:
    """A fresh database for nvr-headoffice's --database: a file, or a PostgreSQL URL."""
    if backend == "sqlite":
        yield str(root / "reports.db")
        return
    server = PostgresServer()
    try:
        server.start()
        yield server.create_database("fleet")
    finally:
        server.remove()


def load() -> list[float]:
    """The machine's 1/5/15-minute load averages (the box is shared)."""
    return [round(x, 2) for x in os.getloadavg()]


def cpu_seconds(pid: int) -> float:
    """CPU time of a process and its children (nvr-headoffice --workers forks)."""
    proc = psutil.Process(pid)
    total = 0.0
    for one in [proc, *proc.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess):
            times = one.cpu_times()
            total += times.user + times.system
    return total


def build_sites(plan: FleetPlan, root: Path, url: str, secrets: dict[str, str]) -> list[FleetSite]:
    """A FleetSite per site id, each with its own state file."""
    paths = make_state_files(root / "sites", plan.sites)
    return [
        FleetSite(site_id, secrets[site_id], path, url)
        for site_id, path in zip(plan.site_ids(), paths, strict=True)
    ]


def prefill(
    plan: FleetPlan, database: str, sites: list[FleetSite], long_outage: set[str], now_s: float
) -> dict[str, Any]:
    """Every site's history (nvrtest.fleet.load_history), two sites at a time.

    Two threads: one builds a site's reports while the other waits on the database. The
    long-outage sites' history stops 7 days ago: the rest is in their outboxes.
    """
    store = ReportStore.open(database, application_name="bench-fleet-prefill")

    def one(site: FleetSite) -> int:
        rng = random.Random(f"{plan.seed}-{site.site_id}")
        days, end = plan.history_days, now_s
        if site.site_id in long_outage:
            days, end = days - LONG_OUTAGE_DAYS, now_s - LONG_OUTAGE_DAYS * DAY_SECONDS
        last = load_history(store, site.site_id, history(plan, site.site_id, days, end, rng))
        site.continue_after(last)
        return last

    started = time.monotonic()
    try:
        with ThreadPoolExecutor(PREFILL_THREADS) as pool:
            total = sum(pool.map(one, sites))
    finally:
        store.close()
    seconds = time.monotonic() - started
    return {
        "how": f"bulk INSERTs into head office's tables, one transaction per site; the newest"
        f" {STORED_TAIL} reports of each site through ReportStore.store (head office's ingest)",
        "reports": total,
        "seconds": round(seconds, 1),
        "reports_per_second": round(total / seconds),
    }


def queue_backlogs(plan: FleetPlan, sites: list[FleetSite]) -> int:
    """7 days of reports in each long-outage site's outbox (the box's real append)."""
    total = 0
    for site in sites:
        rng = random.Random(f"{plan.seed}-backlog-{site.site_id}")
        kinds = [k for _ in range(LONG_OUTAGE_DAYS) for _, k in day_of_reports(plan, rng)]
        site.append_reports(kinds, plan.cameras, rng)
        total += len(kinds)
    return total


def run_backend(plan: FleetPlan, backend: str, workers: int) -> dict[str, Any]:
    """The whole run on one backend; its results."""
    rng = random.Random(plan.seed)
    secrets = {site: f"fleet-{site}-{rng.getrandbits(64):016x}" for site in plan.site_ids()}
    long_count = round(plan.long_outage_fraction * plan.sites)
    long_outage = set(rng.sample(plan.site_ids(), long_count))
    shm = Path("/dev/shm") if Path("/dev/shm").is_dir() else None
    with (
        tempfile.TemporaryDirectory(prefix="bench-fleet-") as tmp,
        tempfile.TemporaryDirectory(prefix="bench-fleet-sites-", dir=shm) as sites_tmp,
        database(backend, Path(tmp)) as db,
    ):
        root = Path(tmp)
        sites_file = write_sites_file(root / "sites.yaml", secrets)
        extra = ["--workers", str(workers)] if workers > 1 else []
        head_office = HeadOfficeProcess(root, sites_file, db, *extra)
        try:
            return measure(plan, backend, head_office, db, Path(sites_tmp), secrets, long_outage)
        finally:
            head_office.stop(60)


def measure(
    plan: FleetPlan,
    backend: str,
    head_office: HeadOfficeProcess,
    database: str,
    sites_root: Path,
    secrets: dict[str, str],
    long_outage: set[str],
) -> dict[str, Any]:
    """Pre-fill, time the views, run live, audit."""
    result: dict[str, Any] = {"backend": backend, "load_at_start": load()}
    sites = build_sites(plan, sites_root, head_office.url + "/api/nvr/reports", secrets)
    print(f"[{backend}] pre-filling {plan.history_days:g} days of {plan.sites} sites", flush=True)
    result["prefill"] = prefill(plan, database, sites, long_outage, time.time())
    result["views_after_prefill"] = time_views(head_office, VIEW_SAMPLES)
    returning = [s for s in sites if s.site_id in long_outage]
    result["long_outage_backlog_reports"] = queue_backlogs(plan, returning)
    print(f"[{backend}] live for {plan.minutes:g} min at {plan.speedup:g}x", flush=True)
    ledger = Ledger()
    run = FleetRun(plan, sites, ledger)
    load_before = load()
    assert head_office.proc is not None
    cpu_before = cpu_seconds(head_office.proc.pid), cpu_seconds(os.getpid())
    seconds = run.run(plan.minutes * 60, returning, DRAIN_TIMEOUT_SECONDS)
    result["live"] = ledger.summary(seconds) | {
        "offered_reports": sum(s.appended for s in sites),
        "load_before": load_before,
        "load_after": load(),
        "head_office_cpu_seconds": round(cpu_seconds(head_office.proc.pid) - cpu_before[0], 1),
        "simulator_cpu_seconds": round(cpu_seconds(os.getpid()) - cpu_before[1], 1),
        "sender_errors": run.send_errors[:5],
    }
    print(
        f"[{backend}] catch-up after a {HEAD_OFFICE_OUTAGE_HOURS} h head-office outage", flush=True
    )
    result["catch_up"], burst = catch_up(plan, sites)
    result["audit"] = audit(head_office, sites, [ledger, burst])
    result["views_after_run"] = time_views(head_office, VIEW_SAMPLES)
    result["head_office_rss_mb"] = round(
        psutil.Process(head_office.proc.pid).memory_info().rss / 2**20, 1
    )
    return result


def catch_up(plan: FleetPlan, sites: list[FleetSite]) -> tuple[dict[str, Any], Ledger]:
    """Head office was down for a few hours: every site sends its backlog at once.

    Its rate is head office's capacity on the POST path, batches and all.
    """
    queued = queue_outage(plan, sites, HEAD_OFFICE_OUTAGE_HOURS)
    ledger = Ledger()
    load_before = load()
    seconds = FleetRun(plan, sites, ledger).catch_up(DRAIN_TIMEOUT_SECONDS)
    summary = ledger.summary(seconds) | {
        "queued_reports": queued,
        "load_before": load_before,
        "load_after": load(),
    }
    return summary, ledger


def verdicts(backend: dict[str, Any]) -> dict[str, bool]:
    """Each target of the issue, met or not."""
    live, audited = backend["live"], backend["audit"]
    page = max(backend["views_after_prefill"]["/"]["p50"], backend["views_after_run"]["/"]["p50"])
    return {
        "p99_under_100ms": (live["latency_ms"]["p99"] or 0) < TARGET_P99_MS,
        "zero_lost": audited["lost"] == 0,
        "zero_duplicates_stored": audited["duplicates_stored"] == 0,
        "sites_page_under_1s": page < TARGET_PAGE_MS,
    }


def main() -> int:
    """Run every backend asked for; write the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=1_000)
    parser.add_argument("--speedup", type=float, default=10.0)
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--days", type=float, default=30.0, help="history pre-filled per site")
    parser.add_argument("--cameras", type=int, default=8, help="cameras per site")
    parser.add_argument("--connections", type=int, default=16, help="client connection pool")
    parser.add_argument("--workers", type=int, default=1, help="nvr-headoffice --workers")
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument(
        "--results", type=Path, default=RESULTS, help="where fleet.json/.md go (small runs)"
    )
    args = parser.parse_args()
    plan = FleetPlan(
        sites=args.sites,
        speedup=args.speedup,
        minutes=args.minutes,
        history_days=args.days,
        cameras=args.cameras,
        connections=args.connections,
    )
    backends = [b for b in args.backends.split(",") if b]
    unknown = set(backends) - set(BACKENDS)
    if unknown:
        parser.error(f"--backends: unknown {', '.join(sorted(unknown))} (use {BACKENDS})")
    runs = [run_backend(plan, backend, args.workers) for backend in backends]
    result = {
        "plan": plan.__dict__
        | {"status_interval_seconds": STATUS_INTERVAL_SECONDS, "batch_max_reports": BATCH_MAX},
        "head_office_workers": args.workers,
        "backends": {r["backend"]: r | {"targets": verdicts(r)} for r in runs},
        "sqlite": sqlite3.sqlite_version,
        **machine(),
    }
    write_results("fleet", result, markdown(result), args.results)
    met = all(all(r["targets"].values()) for r in result["backends"].values())
    return 0 if met else 1


def _row(label: str, values: list[Any]) -> str:
    return f"| {label} | " + " | ".join(str(v) for v in values) + " |\n"


def markdown(r: dict[str, Any]) -> str:
    """The human-readable result: one column per backend, so the crossover shows."""
    runs = list(r["backends"].values())
    plan = r["plan"]
    names = [run["backend"] for run in runs]

    def col(*keys: str) -> list[Any]:
        values = []
        for run in runs:
            value: Any = run
            for key in keys:
                value = value.get(key) if isinstance(value, dict) else None
            values.append(value)
        return values

    rows = [
        ("history pre-filled (reports)", col("prefill", "reports")),
        (
            f"pre-fill reports/s (bulk INSERT; the newest {STORED_TAIL} per site by the store)",
            col("prefill", "reports_per_second"),
        ),
        ("overview page `/` p50 / max ms, after history", _view(runs, "views_after_prefill", "/")),
        (
            "`/api/sites` p50 / max ms, after history",
            _view(runs, "views_after_prefill", "/api/sites"),
        ),
        ("overview page `/` p50 / max ms, after the run", _view(runs, "views_after_run", "/")),
        ("`/api/sites` p50 / max ms, after the run", _view(runs, "views_after_run", "/api/sites")),
        ("live: reports offered / acknowledged", _offered(runs)),
        ("live: reports/s sustained (incl. catch-up)", col("live", "reports_per_second")),
        ("live: POSTs", col("live", "posts")),
        ("live: POST p50 / p99 ms (all)", _pair(runs, "live", "latency_ms")),
        (
            "live: POST p50 / p99 ms (single report)",
            _pair(runs, "live", "latency_ms_single_report"),
        ),
        ("live: POST p50 / p99 ms (catch-up batches)", _pair(runs, "live", "latency_ms_batches")),
        ("7-day backlog reports queued at returning sites", col("long_outage_backlog_reports")),
        (
            f"catch-up after a {HEAD_OFFICE_OUTAGE_HOURS} h head-office outage: reports",
            col("catch_up", "queued_reports"),
        ),
        ("catch-up: reports/s (every site at once)", col("catch_up", "reports_per_second")),
        ("catch-up: POST p50 / p99 ms", _pair(runs, "catch_up", "latency_ms")),
        ("lost (acknowledged, not stored)", col("audit", "lost")),
        ("duplicates stored", col("audit", "duplicates_stored")),
        (
            "re-sent after a lost cursor commit + after no answer / counted as duplicates",
            _resent(runs),
        ),
        ("missing seqs at head office", col("audit", "missing_seqs")),
        ("head office RSS MB at the end", col("head_office_rss_mb")),
        ("live: CPU s of head office / of the simulator", _cpu(runs)),
        ("load average before / after the live run", _loads(runs)),
    ]
    table = "| measure | " + " | ".join(names) + " |\n|---|" + "---|" * len(names) + "\n"
    table += "".join(_row(label, values) for label, values in rows)
    targets = "".join(
        f"- {run['backend']}: "
        + ", ".join(f"{k} {'met' if v else 'MISSED'}" for k, v in run["targets"].items())
        + "\n"
        for run in runs
    )
    return (
        "# Head office at fleet scale\n\n"
        f"Measured {r['measured_at']} on {r['cpus']} CPUs shared with other work (Python "
        f"{r['python']}, SQLite {r['sqlite']}) by `tests/bench/bench_fleet.py`; head office "
        f"and the {plan['sites']:,} simulated sites on the same machine.\n\n"
        f"{plan['sites']:,} sites, {plan['cameras']} cameras each, {plan['history_days']:g} days "
        f"of history, then {plan['minutes']:g} min live at {plan['speedup']:g}x the real rate "
        f"(status every {plan['status_interval_seconds'] // 60} min, "
        f"{plan['events_per_hour']:g} events and {plan['alarms_per_hour']:g} alarms per "
        f"site-hour), {plan['connections']} client connections, "
        f"{plan['long_outage_fraction']:.0%} of sites back from a 7-day outage, "
        f"{plan['short_outage_fraction']:.0%} dark for part of the run, "
        f"{plan['resend_fraction']:.0%} of deliveries re-sent as after a box crash; "
        f"nvr-headoffice with {r['head_office_workers']} process(es).\n\n"
        + table
        + "\nTargets (issue 22: p99 < 100 ms, 0 lost, 0 duplicates stored, page < 1 s):\n"
        + targets
    )


def _pair(runs: list[dict[str, Any]], section: str, key: str) -> list[str]:
    return [f"{run[section][key]['p50']} / {run[section][key]['p99']}" for run in runs]


def _view(runs: list[dict[str, Any]], section: str, path: str) -> list[str]:
    return [f"{run[section][path]['median']} / {run[section][path]['max']}" for run in runs]


def _offered(runs: list[dict[str, Any]]) -> list[str]:
    return [
        f"{run['live']['offered_reports']} / {run['live']['reports_acknowledged']}" for run in runs
    ]


def _resent(runs: list[dict[str, Any]]) -> list[str]:
    return [
        f"{a['resent_by_sites']} + {a['unanswered_then_resent']} / "
        f"{a['duplicates_counted_by_head_office']}"
        for a in (run["audit"] for run in runs)
    ]


def _cpu(runs: list[dict[str, Any]]) -> list[str]:
    return [
        f"{run['live']['head_office_cpu_seconds']} / {run['live']['simulator_cpu_seconds']}"
        for run in runs
    ]


def _loads(runs: list[dict[str, Any]]) -> list[str]:
    return [f"{run['live']['load_before'][0]} / {run['live']['load_after'][0]}" for run in runs]


if __name__ == "__main__":
    sys.exit(main())
