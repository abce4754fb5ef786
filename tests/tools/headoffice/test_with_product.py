"""The real product reporting to the real receiver: nvr-backup, nvr-hddmon, nvr-report and
nvr-uplink on a simulated camera, delivering to nvr-headoffice over HTTP."""

from __future__ import annotations

import json
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from health.test_daemon import chromium
from nvr_camsim import CameraSimulator
from nvrtest import SIM_BITRATE, SIM_HEIGHT, SIM_WIDTH, NvrDaemon, query_state, wait_until
from nvrtest.headoffice import BOTH_ENGINES, SECRET, SITE, HeadOffice

pytestmark = [pytest.mark.timeout(180), BOTH_ENGINES]

DAEMONS = ("nvr.report.main", "nvr.uplink.main", "nvr.hddmon.main", "nvr.backup.main")
ARTIFACTS = Path(__file__).resolve().parents[3] / "run" / "test-artifacts" / "headoffice"


def closed_port() -> int:
    """A local port nothing listens on: a camera that is down."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def nvr_config(root: Path, camera_url: str, reports_url: str) -> Path:
    """A box with one live camera and one that is down, reporting to `reports_url`."""
    for folder in ("recordings", "state"):
        (root / folder).mkdir(exist_ok=True)
    config = {
        "site": {"id": SITE, "name": "Semarang plant"},
        "storage": {
            "recordings_dir": str(root / "recordings"),
            "state_file": str(root / "state" / "state.db"),
        },
        "recording": {
            "segment_seconds": 2,
            # cam02 is down: say so after the first failed attempt, retry every second.
            "backoff": {
                "initial_seconds": 1,
                "max_seconds": 1,
                "warn_after_failures": 1,
                "critical_after_failures": 3,
            },
        },
        "disk": {"check_interval_seconds": 2},
        # Its verdict travels in the status report (issue 24): the head-office health column.
        "health": {
            "listen": f"127.0.0.1:{closed_port()}",
            "daemons": ["nvr-backup", "nvr-hddmon", "nvr-report", "nvr-uplink"],
        },
        "report": {"event_coalesce_seconds": 2},
        "uplink": {
            "head_office": {"url": reports_url, "secret_file": str(root / f"{SITE}.key")},
            "retry_initial_seconds": 0.1,
            "retry_max_seconds": 0.5,
        },
        "cameras": [
            {"id": "cam01", "name": "Gate", "url": camera_url},
            {
                "id": "cam02",
                "name": "Yard",
                "url": f"rtsp://admin:yard-pw-0042@127.0.0.1:{closed_port()}/cam02",
            },
        ],
    }
    path = root / "nvr.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


query = query_state


def heartbeat(state_file: Path, daemon: str) -> dict[str, Any]:
    rows = query(state_file, f"SELECT detail_json FROM heartbeats WHERE daemon = '{daemon}'")
    return dict(json.loads(rows[0][0])) if rows else {}


def test_reports_of_the_real_product_arrive_verified_and_show(
    tmp_path: Path, start_headoffice: Callable[..., HeadOffice], nvrctl: list[str]
) -> None:
    headoffice = start_headoffice()  # writes smg-01.key, the site secret, in tmp_path
    state_file = tmp_path / "state" / "state.db"
    daemons: list[NvrDaemon] = []
    with CameraSimulator(
        tmp_path / "camsim", ["cam01"], width=SIM_WIDTH, height=SIM_HEIGHT, bitrate=SIM_BITRATE
    ) as sim:
        config = nvr_config(tmp_path, sim.camera_url("cam01"), headoffice.reports_url)
        try:
            # nvr-health too: its verdict travels in the status report (issue 24).
            for module in (*DAEMONS, "nvr.health.main"):
                daemons.append(NvrDaemon(module, config))
                if module == "nvr.report.main":
                    # nvr-report reports events from its first start on: start it first.
                    wait_until(
                        lambda: query(state_file, "SELECT 1 FROM report_state"), 30, "nvr-report"
                    )
            wait_until(
                lambda: (
                    heartbeat(state_file, "nvr-backup")
                    .get("cameras", {})
                    .get("cam01", {})
                    .get("state")
                    == "recording"
                ),
                60,
                "cam01 recording",
            )
            wait_until(lambda: "percent" in heartbeat(state_file, "nvr-hddmon"), 30, "disk usage")
            wait_until(
                lambda: "camera:cam02" in str(heartbeat(state_file, "nvr-health").get("failing")),
                60,
                "nvr-health's verdict naming cam02",
            )
            queued = subprocess.run(
                [*nvrctl, "report", "now", "--config", str(config)],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
            assert queued.returncode == 0, queued.stderr
            site = wait_until(
                lambda: (
                    (s := headoffice.site())["latest_status"]
                    # A camera that stops recording is an alarm (nvr.core.alarms).
                    and s["latest_kinds"].get("alarm")
                    and s
                ),
                60,
                "a status report and cam02's event report at head office",
            )
            # Everything the box queued so far arrives: nothing lost, nothing twice.
            last_seq = query(state_file, "SELECT last_seq FROM outbox_seq")[0][0]
            site = wait_until(
                lambda: (s := headoffice.site())["last_seq"] >= last_seq and s,
                30,
                "every queued report",
            )
        finally:
            codes = {d.name: d.stop() for d in daemons if d.proc is not None}
    assert codes == {"report": 0, "uplink": 0, "hddmon": 0, "backup": 0, "health": 0}

    assert (site["first_seq"], site["missing"], site["duplicates"]) == (1, 0, 0)
    assert site["reports"] == site["last_seq"]
    status = site["latest_status"]["body"]
    states = {c["id"]: c["recording"]["state"] for c in status["cameras"]}
    assert states["cam01"] == "recording" and states["cam02"] != "recording"
    assert isinstance(status["disk"]["percent"], float)
    alarms = headoffice.reports(query="?kind=alarm")
    assert any("cam02" in e["body"]["message"] for e in alarms), alarms

    row = headoffice.get("/").text.split(f'id="site-{SITE}"')[1].split("</tr>")[0]
    # The age cell: a report came (the box's failing reasons may say "never" themselves).
    assert "1/2" in row and "%</td>" in row and "head_office" in row and ">never</td>" not in row
    site_page = headoffice.get(f"/sites/{SITE}").text
    assert "camera_not_recording" in site_page and "Yard" in site_page

    # Issue 24: the box's health and its reasons, coverage over an hour and a day.
    assert status["health"]["status"] == "unhealthy"
    assert any(f["name"] == "camera:cam02" for f in status["health"]["failing"])
    windows = {c["id"]: c["windows"] for c in status["cameras"]}
    assert windows["cam02"]["1h"]["percent"] < 5.0
    # cam01 records all the time: its open segment does not count as missing.
    assert windows["cam01"]["1h"]["percent"] > 0
    assert all("recent_crashes" in d for d in status["daemons"])
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for name, url in (("overview", "/"), ("site", f"/sites/{SITE}")):
        shot = ARTIFACTS / f"headoffice-{name}.png"
        shot.unlink(missing_ok=True)
        taken = chromium(f"{headoffice.url}{url}", f"--screenshot={shot}")
        assert shot.is_file() and shot.stat().st_size > 5_000, taken.stderr[-2000:]
    overview = " ".join(chromium(f"{headoffice.url}/", "--dump-dom").stdout.split())
    row = overview.split(f'id="site-{SITE}"')[1].split("</tr>")[0]
    assert 'class="h-unhealthy">unhealthy</span>' in row
    assert "camera:cam02: " in row and "recorded" not in row.split("</td>")[0]
    site_dom = " ".join(chromium(f"{headoffice.url}/sites/{SITE}", "--dump-dom").stdout.split())
    assert 'health: <span class="h-unhealthy">unhealthy</span>' in site_dom
    assert "recorded last hour" in site_dom and "dropouts last hour" in site_dom
    assert "site=smg-01 accepted=" in headoffice.log()
    texts = [headoffice.get("/api/sites").text, site_page, *(d.log() for d in daemons)]
    for text in texts:
        assert SECRET not in text and sim.password("cam01") not in text
        assert "yard-pw-0042" not in text
