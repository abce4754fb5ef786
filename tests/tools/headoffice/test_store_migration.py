"""A report database of the previous schema version upgrades in place, on both engines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nvr_headoffice.engines import open_engine
from nvr_headoffice.store import MIGRATIONS, ReportStore
from nvrtest.headoffice import ENGINES

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize("engine", ENGINES)
def test_an_older_database_gets_its_latest_status_filled_in(
    engine: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    database = (
        request.getfixturevalue("postgres_url") if engine == "postgres" else str(tmp_path / "h.db")
    )
    older = open_engine(database)
    older.migrate(MIGRATIONS[:-1])  # the schema before the fleet page's columns
    body = {
        "cameras": [{"id": "cam01", "recording": {"state": "waiting"}}],
        "disk": {"percent": 93},
    }
    with older.transaction() as conn:
        conn.execute(
            "INSERT INTO sites (site_id, reports, first_seq, last_seq) VALUES ('s1', 2, 1, 2)"
        )
        for seq, report_body in ((1, {"cameras": []}), (2, body)):
            conn.execute(
                "INSERT INTO reports (id, site_id, seq, kind, created_at, received_at_ms,"
                " body_json) VALUES (?, 's1', ?, 'status', '2026-11-20T08:00:00Z', 1, ?)",
                (f"r{seq}", seq, json.dumps(report_body)),
            )
    older.close()

    store = ReportStore.open(database)
    try:
        summary = store.summary("s1", 10)
        assert summary.latest_status is not None and summary.latest_status.seq == 2
        (row,) = store.fleet()
        assert row.headline is not None
        assert (row.headline["cameras"], row.headline["recording"]) == (1, 0)
        assert row.headline["disk_percent"] == 93
    finally:
        store.close()
    # Opening again changes nothing (the migration and the fill-in ran once).
    again = ReportStore.open(database)
    try:
        assert again.summary("s1", 10).latest_status == summary.latest_status
    finally:
        again.close()
