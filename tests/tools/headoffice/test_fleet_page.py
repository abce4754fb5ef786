"""The head-office page for a fleet (issue 22): attention first, filters, pages, 30 days.

Twelve sites on a real receiver, on both engines: healthy ones, one not recording, one
with a full disk, one with missing reports, three that never reported. The page and the
paged GET /api/sites sort, filter and cut them as an operator of a thousand sites needs;
a site's page shows each camera's percent recorded per day.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from nvrtest.headoffice import BOTH_ENGINES, OTHER_SITE, SITE, HeadOffice, envelope, write_sites

pytestmark = [pytest.mark.timeout(120), BOTH_ENGINES]

FLEET = {f"fl-{n:02d}": f"fleet-secret-{n:02d}-4d1a" for n in range(1, 11)}
ROW = re.compile(r'<tr id="site-([\w.-]+)">')


def status(
    day: str, percent: float = 100.0, disk: float = 40.0, health: str = "healthy", **states: str
) -> dict[str, Any]:
    """A status body of two cameras (both recording unless `states` says otherwise)."""
    return {
        "period": {"from": f"{day}T08:00:00.000Z", "to": f"{day}T08:15:00.000Z"},
        "cameras": [
            {
                "id": camera,
                "name": camera.title(),
                "recording": {"state": states.get(camera, "recording")},
                "coverage": {"percent": percent},
                "windows": {"1h": {"percent": 100.0}, "24h": {"percent": 100.0}},
            }
            for camera in ("cam01", "cam02")
        ],
        "disk": {"percent": disk},
        "health": {"status": health},
    }


def rows(html: str) -> list[str]:
    return ROW.findall(html)


def test_the_fleet_page_puts_problems_first_filters_and_pages(
    tmp_path: Path, start_headoffice: Callable[..., HeadOffice]
) -> None:
    extra = {site: {"secret": secret} for site, secret in FLEET.items()}
    extra["fl-10"]["name"] = "Depot Surabaya"
    headoffice = start_headoffice(write_sites(tmp_path, extra_sites=extra))
    today = datetime.now(UTC).date()
    days = [(today - timedelta(days=n)).isoformat() for n in (2, 1, 0)]

    def send(site: str, reports: list[dict[str, Any]]) -> None:
        answer = headoffice.post(reports, site=site, secret=FLEET[site])
        assert answer.status_code == 200, answer.text

    for site in ("fl-01", "fl-02", "fl-03", "fl-04", "fl-05", "fl-06"):
        send(site, [envelope(1, "status", site=site, **status(days[2]))])
    # fl-01's cameras over three days: 100 %, then half a day, then 100 % and 96 % today.
    send("fl-01", [envelope(seq, "status", site="fl-01", **status(day, pct))
                   for seq, day, pct in ((2, days[0], 100.0), (3, days[1], 50.0),
                                         (4, days[2], 96.0))])  # fmt: skip
    not_recording = status(days[2], health="unhealthy", cam02="waiting")
    send("fl-07", [envelope(1, "status", site="fl-07", **not_recording)])
    disk_full = status(days[2], disk=95.0, health="degraded")
    send("fl-08", [envelope(1, "status", site="fl-08", **disk_full)])
    send(
        "fl-09", [envelope(1, "status", site="fl-09", **status(days[2])), envelope(3, site="fl-09")]
    )
    # fl-10, SITE and OTHER_SITE never report: offline.

    paged = headoffice.get("/api/sites?per_page=5").json()
    assert (paged["total"], paged["pages"], paged["per_page"], paged["page"]) == (12, 3, 5, 1)
    assert paged["problems"] == {"offline": 3, "not_recording": 1, "disk": 1, "gaps": 1}
    assert [s["site_id"] for s in paged["sites"]] == ["fl-01", "fl-02", "fl-03", "fl-04", "fl-05"]
    first = paged["sites"][0]
    assert (first["reports"], first["latest_status"]["seq"], first["problems"]) == (4, 4, [])
    last = headoffice.get("/api/sites?per_page=5&page=3").json()["sites"]
    assert [s["site_id"] for s in last] == [SITE, OTHER_SITE]
    offline = headoffice.get("/api/sites?problem=offline").json()["sites"]
    assert [s["site_id"] for s in offline] == ["fl-10", SITE, OTHER_SITE]
    found = headoffice.get("/api/sites?q=SURABAYA").json()
    assert [s["site_id"] for s in found["sites"]] == ["fl-10"] and found["total"] == 1
    gaps = headoffice.get("/api/sites?problem=gaps").json()["sites"]
    assert [(s["site_id"], s["missing"], s["gaps"]) for s in gaps] == [("fl-09", 1, [[2, 2]])]
    bad = headoffice.get("/api/sites?problem=flooded")
    assert bad.status_code == 400 and "problem must be one of" in bad.json()["error"]
    assert headoffice.get("/api/sites?per_page=0").status_code == 400
    # Without paging parameters, the answer callers had before: every site, a list.
    everything = headoffice.get("/api/sites").json()
    assert isinstance(everything, list) and len(everything) == 12
    assert next(s for s in everything if s["site_id"] == "fl-01")["latest_status"]["seq"] == 4

    # The page: attention first (not recording, lost reports, offline), then the rest.
    page1 = headoffice.get("/?per_page=5").text
    assert rows(page1) == ["fl-07", "fl-09", "fl-10", SITE, OTHER_SITE]
    assert "page 1 of 3" in page1 and 'href="?page=2&amp;per_page=5" rel="next"' in page1
    assert "offline (3)" in page1 and "disk full (1)" in page1 and "not recording (1)" in page1
    page2 = headoffice.get("/?per_page=5&page=2").text
    assert rows(page2) == ["fl-08", "fl-01", "fl-02", "fl-03", "fl-04"]
    assert 'rel="prev"' in page2
    fl08 = page2.split('id="site-fl-08"')[1].split("</tr>")[0]
    assert "disk full" in fl08 and "95%" in fl08
    assert rows(headoffice.get("/?problem=disk").text) == ["fl-08"]
    assert rows(headoffice.get("/?q=surabaya").text) == ["fl-10"]
    assert "no site matches" in headoffice.get("/?q=nowhere-at-all").text

    # A site's page: each camera's percent recorded per day, the last 30 days.
    site_page = headoffice.get("/sites/fl-01").text
    table = site_page.split('<table id="coverage">')[1].split("</table>")[0]
    assert table.count("<tr>") == 3  # the header and two cameras
    cam01 = table.split("<td>cam01")[1].split("</tr>")[0]
    assert re.findall(r'<td class="day ([a-z]+)"', cam01) == ["good", "bad", "warn"]
    assert re.findall(r">(\d+)</td>", cam01) == ["100", "50", "98"]  # today: (100 + 96) / 2
    assert cam01.count('title="no status report"') == 27
    assert f'title="{days[2]}: 2 status reports">98</td>' in cam01
