"""nvr-headoffice run for real: what it stores, what it refuses, and what it shows."""

from __future__ import annotations

import json
import signal
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from nvrtest import wait_until
from nvrtest.headoffice import (
    BOTH_ENGINES,
    OTHER_SECRET,
    OTHER_SITE,
    SECRET,
    SITE,
    HeadOffice,
    envelope,
    reference_gaps,
    write_sites,
)

pytestmark = [pytest.mark.timeout(90), BOTH_ENGINES]

# A status body shaped like nvr-report's (nvr/report/status.py): one of two cameras records.
STATUS_BODY: dict[str, Any] = {
    "period": {"from": "2026-11-21T07:45:00.000Z", "to": "2026-11-21T08:00:00.000Z"},
    "cameras": [
        {
            "id": "cam01",
            "name": "Gate",
            "enabled": True,
            "recording": {"state": "recording"},
            "coverage": {"percent": 99.5},
            "validation": [{"check": "black", "status": "ok"}],
        },
        {
            "id": "cam02",
            "name": "Yard",
            "enabled": True,
            "recording": {"state": "waiting"},
            "coverage": {"percent": 12.0},
            "validation": [{"check": "reachable", "status": "fail"}],
        },
    ],
    "disk": {"known": True, "percent": 87.3},
    "daemons": [{"daemon": "nvr-backup", "stale": False}],
    "uplink": {"head_office": {"pending": 0}, "hse_api": {"pending": 4}},
}


def seqs(reports: list[dict[str, Any]]) -> list[int]:
    return [r["seq"] for r in reports]


def test_a_good_batch_is_stored_listed_and_shown(headoffice: HeadOffice) -> None:
    batch = [
        envelope(1, "status", **STATUS_BODY),
        envelope(2),
        envelope(3, "alarm", event="disk_read_only", severity="critical", message="disk ro"),
    ]
    response = headoffice.post(batch)
    assert response.status_code == 200, response.text
    assert response.json() == {"accepted": 3, "duplicates": 0}
    # One envelope without an array is a batch of one.
    assert headoffice.post(envelope(4)).json() == {"accepted": 1, "duplicates": 0}

    site = headoffice.site()
    assert site["name"] == "Semarang plant"
    assert (site["reports"], site["first_seq"], site["last_seq"]) == (4, 1, 4)
    assert (site["missing"], site["gaps"], site["duplicates"]) == (0, [], 0)
    assert site["latest_kinds"] == {"alarm": 1, "event": 2, "status": 1}
    assert site["latest_status"]["seq"] == 1
    assert site["latest_status"]["body"] == STATUS_BODY
    assert site["last_report_at"].endswith("Z")
    stored = headoffice.reports()
    assert seqs(stored) == [1, 2, 3, 4]
    assert [r["id"] for r in stored[:3]] == [e["id"] for e in batch]
    assert stored[2]["body"] == batch[2]["body"] and stored[2]["kind"] == "alarm"
    assert seqs(headoffice.reports(query="?kind=alarm")) == [3]
    assert seqs(headoffice.reports(query="?after_seq=1&limit=2")) == [2, 3]
    bad = headoffice.get(f"/api/sites/{SITE}/reports?limit=0")
    assert bad.status_code == 400 and "limit" in bad.json()["error"]
    silent = headoffice.site(OTHER_SITE)  # configured, never reported: listed all the same
    assert (silent["reports"], silent["last_report_at"], silent["latest_status"]) == (0, None, None)

    page = headoffice.get("/").text
    row = page.split(f'id="site-{SITE}"')[1].split("</tr>")[0]
    assert "1/2" in row and "87%" in row and "head_office 0, hse_api 4" in row
    assert f'href="sites/{SITE}"' in row
    site_page = headoffice.get(f"/sites/{SITE}").text
    assert "disk ro" in site_page and "disk_read_only" in site_page
    assert "reachable" in site_page  # cam02's failing check
    assert headoffice.get("/healthz").text.strip() == "ok"
    assert "site=smg-01 accepted=3 duplicates=0 seqs=1-3" in headoffice.log()


def test_the_same_batch_again_counts_duplicates_and_stores_nothing_twice(
    headoffice: HeadOffice,
) -> None:
    batch = [envelope(seq) for seq in (1, 2, 3)]
    assert headoffice.post(batch).json() == {"accepted": 3, "duplicates": 0}
    assert headoffice.post(batch).json() == {"accepted": 0, "duplicates": 3}
    overlap = [batch[2], envelope(4)]
    assert headoffice.post(overlap).json() == {"accepted": 1, "duplicates": 1}

    site = headoffice.site()
    assert (site["reports"], site["duplicates"], site["missing"]) == (4, 4, 0)
    stored = headoffice.reports()
    assert seqs(stored) == [1, 2, 3, 4]
    assert len({r["id"] for r in stored}) == 4
    assert headoffice.site(OTHER_SITE)["duplicates"] == 0  # counted per site
    row = headoffice.get("/").text.split(f'id="site-{SITE}"')[1].split("</tr>")[0]
    assert '<td class="n">4</td>' in row  # duplicates received, on the page


def test_refusals_name_the_problem_and_store_nothing(headoffice: HeadOffice) -> None:
    good = [envelope(1)]
    body = json.dumps(good).encode()
    unsigned = requests.post(
        headoffice.reports_url,
        data=body,
        headers={"X-NVR-Site": SITE, "X-NVR-Timestamp": str(int(time.time()))},
        timeout=10,
    )
    no_seq = envelope(1)
    del no_seq["seq"]
    cases = [
        (headoffice.post(good, secret="not-the-secret"), 401, "bad X-NVR-Signature"),
        (unsigned, 401, "bad X-NVR-Signature"),
        (headoffice.post(good, timestamp=time.time() - 3_600), 401, "from the receiver's clock"),
        (headoffice.post(good, timestamp=time.time() + 3_600), 401, "from the receiver's clock"),
        (
            headoffice.post([envelope(1, site="nowhere")], site="nowhere"),
            401,
            "bad X-NVR-Signature for site 'nowhere'",
        ),
        (
            headoffice.post([envelope(1), envelope(2, site=OTHER_SITE)]),
            400,
            "reports[1]: site_id 'smg-02' does not match X-NVR-Site 'smg-01'",
        ),
        (headoffice.post(None, raw=b'[{"schema": 1, "id": '), 400, "body is not JSON"),
        (headoffice.post([no_seq]), 400, "reports[0]: missing seq"),
        (headoffice.post({**envelope(1), "seq": "7"}), 400, "seq '7' is not a positive integer"),
        (headoffice.post([{**envelope(1), "seq": 2**70}]), 400, "is not a positive integer"),
        (headoffice.post([]), 400, "empty array"),
        (requests.post(headoffice.reports_url, data=body, timeout=10), 401, "missing X-NVR-Site"),
    ]
    for response, status, text in cases:
        assert response.status_code == status, (text, response.text)
        assert text in response.json()["error"]
    assert headoffice.site()["reports"] == 0
    assert headoffice.reports() == []
    assert headoffice.log().count("refused from 127.0.0.1: HTTP") == len(cases)


def test_gaps_are_exactly_the_seqs_not_received(headoffice: HeadOffice) -> None:
    def post(site: str, secret: str, numbers: list[int]) -> None:
        batch = [envelope(seq, site=site) for seq in numbers]
        assert headoffice.post(batch, site=site, secret=secret).status_code == 200

    post(SITE, SECRET, [1, 2, 5, 6, 9])
    site = headoffice.site()
    assert (site["missing"], site["gaps"]) == (4, [[3, 4], [7, 8]])
    post(SITE, SECRET, [4])  # a late arrival splits nothing, shrinks a gap
    post(SITE, SECRET, [8, 7])  # out of order: the gap closes
    post(SITE, SECRET, [12])
    site = headoffice.site()
    assert (site["missing"], site["gaps"], site["last_seq"]) == (3, [[3, 3], [10, 11]], 12)
    row = headoffice.get("/").text.split(f'id="site-{SITE}"')[1].split("</tr>")[0]
    assert '<td class="bad">3' in row  # red: reports may be lost

    # The site's full outbox dropped 3, 10 and 11 and said so (outbox.md, invariant 5).
    overflow = envelope(
        13,
        "alarm",
        event="outbox_overflow",
        message="outbox full: dropped 3 reports",
        dropped_seqs=[[3, 3], [10, 11]],
    )
    assert headoffice.post([overflow]).status_code == 200
    site = headoffice.site()
    assert (site["missing"], site["announced_dropped"]) == (3, 3)
    row = headoffice.get("/").text.split(f'id="site-{SITE}"')[1].split("</tr>")[0]
    assert '<td class="warn">3' in row and "(3 announced dropped)" in row

    # A new report reusing a stored seq (a reinstalled box) is stored and flagged.
    post(SITE, SECRET, [5])
    site = headoffice.site()
    assert (site["reports"], site["seq_reused"], site["missing"]) == (11, 1, 3)

    # Below the first seq, and many gaps: the list is capped, the count is not.
    received = {10, 7, *range(12, 421, 2)}
    post(OTHER_SITE, OTHER_SECRET, [10])
    post(OTHER_SITE, OTHER_SECRET, [7])
    post(OTHER_SITE, OTHER_SECRET, list(range(12, 421, 2)))
    other = headoffice.site(OTHER_SITE)
    expected = reference_gaps(received)
    assert len(expected) > 100
    assert other["first_seq"] == 7 and other["last_seq"] == 420
    assert other["gaps"] == expected[:100]
    assert other["missing"] == sum(b - a + 1 for a, b in expected)


def test_a_200_survives_kill_9_of_the_receiver(
    start_headoffice: Callable[..., HeadOffice],
) -> None:
    headoffice = start_headoffice()
    sent: list[dict[str, Any]] = []
    for round_ in range(3):
        batch = [envelope(seq) for seq in range(round_ * 200 + 1, round_ * 200 + 201)]
        assert headoffice.post(batch).json() == {"accepted": 200, "duplicates": 0}
        sent += batch
        headoffice.kill()  # right after the 200: no clean shutdown, no checkpoint
        headoffice.start()
    stored = headoffice.reports(query="?limit=1000")
    assert [r["id"] for r in stored] == [e["id"] for e in sent]
    assert headoffice.site()["missing"] == 0
    # Dedupe survives too: the site re-sending after a crash stores nothing twice.
    assert headoffice.post(sent[:200]).json() == {"accepted": 0, "duplicates": 200}
    if headoffice.engine == "postgres":
        return  # PostgreSQL checks its own pages; SQLite's file is ours to check
    conn = sqlite3.connect(headoffice.database)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()


def test_pages_escape_what_comes_from_the_field(
    start_headoffice: Callable[..., HeadOffice], tmp_path: Path
) -> None:
    headoffice = start_headoffice(write_sites(tmp_path, name="<script>alert('name')</script>"))
    status = json.loads(json.dumps(STATUS_BODY))
    status["cameras"][0]["name"] = "<img src=x onerror=alert(1)>"
    event = envelope(2, message="<script>alert(1)</script> & co", camera="<b>cam</b>")
    assert headoffice.post([envelope(1, "status", **status), event]).status_code == 200

    overview = headoffice.get("/").text
    site_page = headoffice.get(f"/sites/{SITE}").text
    for text in (overview, site_page):
        assert "<script>" not in text and "<img" not in text and "<b>cam" not in text
    assert "&lt;script&gt;alert(&#39;name&#39;)&lt;/script&gt;" in overview
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in site_page
    assert "&lt;img src=x onerror=alert(1)&gt;" in site_page
    assert "&lt;b&gt;cam&lt;/b&gt;" in site_page
    unknown = headoffice.get("/sites/%3Cscript%3E")
    assert unknown.status_code == 404
    assert unknown.headers["Content-Type"] == "application/json"


def test_secrets_never_reach_the_pages_the_api_or_the_log(headoffice: HeadOffice) -> None:
    answers = [
        headoffice.post([envelope(1, "status", **STATUS_BODY)]),
        headoffice.post([envelope(1, site=OTHER_SITE)], site=OTHER_SITE, secret=OTHER_SECRET),
        headoffice.post([envelope(2)], secret="wrong"),
        headoffice.post([envelope(2, site=OTHER_SITE)], site=OTHER_SITE, secret=SECRET),
        headoffice.post([envelope(2, site="nowhere")], site="nowhere"),
        headoffice.get("/"),
        headoffice.get(f"/sites/{SITE}"),
        headoffice.get(f"/sites/{OTHER_SITE}"),
        headoffice.get("/api/sites"),
        headoffice.get(f"/api/sites/{SITE}/reports"),
        headoffice.get(f"/api/sites/{OTHER_SITE}/reports"),
        headoffice.get("/healthz"),
    ]
    assert [a.status_code for a in answers[:5]] == [200, 200, 401, 401, 401]
    for answer in answers:
        assert SECRET not in answer.text and OTHER_SECRET not in answer.text
    # ...and the log: checked by the fixture when the receiver stops.


def test_sighup_reloads_the_sites_file_and_sigterm_stops_cleanly(
    start_headoffice: Callable[..., HeadOffice], tmp_path: Path
) -> None:
    headoffice = start_headoffice()
    newcomer = [envelope(1, site="smg-03")]
    assert headoffice.post(newcomer, site="smg-03", secret="newcomer-secret").status_code == 401

    write_sites(tmp_path, extra_sites={"smg-03": {"secret": "newcomer-secret"}})
    headoffice.signal(signal.SIGHUP)
    wait_until(
        lambda: headoffice.post(newcomer, site="smg-03", secret="newcomer-secret").ok,
        15,
        "the new site accepted after SIGHUP",
    )
    sites_file = tmp_path / "sites.yaml"
    sites_file.write_text("sites: {smg-01: {secrte: typo}}\n")
    headoffice.signal(signal.SIGHUP)
    wait_until(lambda: "reload rejected" in headoffice.log(), 15, "the bad file rejected")
    assert headoffice.post([envelope(2, site="smg-03")], site="smg-03", secret="newcomer-secret").ok

    assert headoffice.stop() == 0
    assert "nvr-headoffice stopped" in headoffice.log()
