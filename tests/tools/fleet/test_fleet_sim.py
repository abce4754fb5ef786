"""The fleet simulator of tests/bench/bench_fleet.py, small: what its numbers rest on.

Three simulated sites (the box's own outbox, uplink worker and signing) against a real
nvr-headoffice, on SQLite and on PostgreSQL. One comes back from a 7-day outage with its
backlog; some deliveries are re-sent as after a box crash between head office's 200 and the
cursor commit.
"""

from __future__ import annotations

import random
from pathlib import Path

from nvrtest.fleet import (
    BATCH_MAX,
    LONG_OUTAGE_DAYS,
    FleetPlan,
    FleetRun,
    FleetSite,
    HeadOfficeProcess,
    Ledger,
    audit,
    day_of_reports,
    make_state_files,
    write_sites_file,
)
from nvrtest.headoffice import BOTH_ENGINES

pytestmark = BOTH_ENGINES

PLAN = FleetPlan(
    sites=3,
    speedup=900.0,  # a status report per site every second
    minutes=0.05,
    connections=2,
    short_outage_fraction=0.0,
    resend_fraction=0.3,
    seed=7,
)


def test_a_site_back_from_a_week_away_delivers_its_backlog_once(
    tmp_path: Path, headoffice_database: Path | str
) -> None:
    secrets = {site: f"secret-of-{site}-3f9a" for site in PLAN.site_ids()}
    sites_file = write_sites_file(tmp_path / "sites.yaml", secrets)
    head_office = HeadOfficeProcess(tmp_path, sites_file, str(headoffice_database))
    try:
        url = head_office.url + "/api/nvr/reports"
        paths = make_state_files(tmp_path / "sites", PLAN.sites)
        sites = [
            FleetSite(s, secrets[s], p, url) for s, p in zip(PLAN.site_ids(), paths, strict=True)
        ]
        returning = sites[0]
        rng = random.Random(PLAN.seed)
        week = [k for _ in range(LONG_OUTAGE_DAYS) for _, k in day_of_reports(PLAN, rng)]
        returning.append_reports(week, PLAN.cameras, rng)
        ledger = Ledger()
        run = FleetRun(PLAN, sites, ledger)
        run.run(PLAN.minutes * 60, [returning], drain_timeout=60)

        assert run.send_errors == []
        assert run.drained(), "some reports were never acknowledged"
        # The backlog went in the box's batches, not one by one.
        assert max(n for _, n in ledger.latencies) == BATCH_MAX
        result = audit(head_office, sites, [ledger])
        assert ledger.resent > 0, "the run re-sent nothing: the duplicate check proves nothing"
        counted = result.pop("duplicates_counted_by_head_office")
        # Every re-send is counted; a POST that timed out on a loaded box may add its own.
        assert ledger.resent <= counted <= ledger.resent + ledger.unanswered
        assert result == {
            "lost": 0,
            "duplicates_stored": 0,
            "resent_by_sites": ledger.resent,
            "unanswered_then_resent": ledger.unanswered,
            "missing_seqs": 0,
            "not_acknowledged_at_end": 0,
        }
        summary = {s["site_id"]: s for s in head_office.get_json("/api/sites")}
        back = summary[returning.site_id]
        assert back["reports"] == back["last_seq"] == returning.appended > len(week)
        assert all(summary[s.site_id]["reports"] == s.appended > 0 for s in sites)
    finally:
        assert head_office.stop(30) == 0, head_office.log()
    assert "Traceback" not in head_office.log()
