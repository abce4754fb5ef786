"""End to end: every daemon under supervisord on simulated cameras, faults made on purpose.

One stack for the module (nvr_demo.stack, the same as `make demo`): three simulated
cameras, mosquitto, the live-view mediamtx, the reference head office (nvr-headoffice) and
the seven nvr daemons, recording onto a small loop-mounted disk. The tests run in file order
and share one timeline: everything up -> kill -9 of each daemon in turn -> a camera offline
for 2 minutes while head office is down for 5 minutes, the disk filling throughout.
Measured values are written to run/e2e-results.json (the closing note's invariant table).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import pytest
import requests

from nvr.core.tables.recordings import Coverage, coverage
from nvr_demo.stack import DAEMONS, SITE_ID, Stack, StackOptions
from nvrtest import loop_mounted, wait_until

pytestmark = pytest.mark.timeout(1800)

REPO = Path(__file__).resolve().parents[2]
RESULTS_FILE = REPO / "run" / "e2e-results.json"
CAMERAS = 3
SEGMENT_S = 10
# The disk fills about 4 minutes in (3 cameras x 800 kbit/s); the janitor then keeps 3-4
# minutes of video, enough for the camera-outage window measured 25 s after it ends.
DISK_SIZE = "128M"
HIGH_WATERMARK, LOW_WATERMARK = 60.0, 45.0
OFFLINE_CAMERA = "cam03"
CAMERA_OFFLINE_S = 120
HEAD_OFFICE_DOWN_S = 300
CRASH_HOLD_S = 10  # /health names a kill -9 as a warning this long (60 s on a real box)
# The recording gap a kill -9 of nvr-backup may cost: supervisord restarts it (< 1 s), the
# interpreter and the state file (~2 s), ffmpeg connects and waits for a keyframe (1 s GOP),
# plus at most one fragment of the killed segment. Measured 4-7 s on two loaded cores.
BACKUP_KILL_GAP_BOUND_S = 15.0


@dataclass
class E2E:
    """The stack, its disk, and what the tests measured along the way."""

    stack: Stack
    disk: Path
    results: dict[str, Any] = field(default_factory=dict)
    disk_percent: list[float] = field(default_factory=list)
    timeline: dict[str, float] = field(default_factory=dict)
    camera_window: tuple[Coverage, int | None] | None = None

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        """Read the state file as a technician would (sqlite3 on the box)."""
        conn = sqlite3.connect(self.stack.state_file, timeout=10)
        try:
            return list(conn.execute(sql, params).fetchall())
        finally:
            conn.close()

    def site(self) -> dict[str, Any]:
        """The head office's view of our site ({} before the first report)."""
        answer = requests.get(f"{self.stack.headoffice_url}/api/sites", timeout=10)
        answer.raise_for_status()
        sites: list[dict[str, Any]] = answer.json()
        return next((s for s in sites if s["site_id"] == SITE_ID), {})

    def received(self) -> list[dict[str, Any]]:
        """Every report head office stored for our site, in seq order."""
        reports: list[dict[str, Any]] = []
        while True:
            after = reports[-1]["seq"] if reports else 0
            answer = requests.get(
                f"{self.stack.headoffice_url}/api/sites/{SITE_ID}/reports",
                params={"after_seq": after, "limit": 1000},
                timeout=10,
            )
            answer.raise_for_status()
            page: list[dict[str, Any]] = answer.json()
            if not page:
                return reports
            reports += page

    def backlog(self) -> int:
        """Reports not yet delivered to head office."""
        rows = self.query(
            "SELECT count(*) FROM outbox WHERE id > coalesce((SELECT last_id FROM"
            " uplink_cursors WHERE destination = 'head_office'), 0)"
        )
        return int(rows[0][0])

    def last_seq(self) -> int:
        """The last seq the site gave a report."""
        rows = self.query("SELECT last_seq FROM outbox_seq WHERE site_id = ?", SITE_ID)
        return int(rows[0][0]) if rows else 0


def sample_disk(e2e: E2E, stop: threading.Event) -> None:
    """The recordings disk's usage every second, for the whole module."""
    while not stop.wait(1.0):
        e2e.disk_percent.append(psutil.disk_usage(str(e2e.disk)).percent)


@pytest.fixture(scope="module")
def e2e(tmp_path_factory: pytest.TempPathFactory) -> Iterator[E2E]:
    root = tmp_path_factory.mktemp("e2e")
    with loop_mounted(root, DISK_SIZE) as disk:
        options = StackOptions(
            cameras=CAMERAS,
            resolution="640x360",
            bitrate="800k",
            segment_seconds=SEGMENT_S,
            status_interval_minutes=1,
            validation_interval_seconds=30,
            recordings_dir=disk,
            require_mount=True,
            disk={
                "high_watermark_percent": HIGH_WATERMARK,
                "low_watermark_percent": LOW_WATERMARK,
                "headroom_hours": 0.01,
                "check_interval_seconds": 5,
                "state_min_free_mb": 0,
            },
            uplink_retry_max_seconds=10,
            crash_hold_seconds=CRASH_HOLD_S,
            live_mediamtx_config=REPO / "etc" / "mediamtx" / "mediamtx.yml",
        )
        with Stack(root / "run", options) as stack:
            state = E2E(stack, disk)
            stop = threading.Event()
            sampler = threading.Thread(target=sample_disk, args=(state, stop), daemon=True)
            sampler.start()
            try:
                yield state
            finally:
                stop.set()
                sampler.join(5)
                RESULTS_FILE.parent.mkdir(exist_ok=True)
                RESULTS_FILE.write_text(json.dumps(state.results, indent=2) + "\n")
                print(f"\ne2e results ({RESULTS_FILE}):\n{json.dumps(state.results, indent=2)}")


def segments_of(e2e: E2E, camera: str) -> int:
    return int(e2e.query("SELECT count(*) FROM segments WHERE camera = ?", camera)[0][0])


# -- 1. everything up --------------------------------------------------------------------
def test_everything_up_reports_arrive_recordings_accumulate_health_200(e2e: E2E) -> None:
    started = time.monotonic()
    wait_until(lambda: e2e.stack.health() == 200, 180, "/health 200 with every daemon up")
    e2e.results["healthy_after_start_s"] = round(time.monotonic() - started, 1)
    for camera in e2e.stack.camera_ids():
        wait_until(lambda c=camera: segments_of(e2e, c) >= 2, 60, f"{camera} recording")
    status = wait_until(
        lambda: e2e.site().get("latest_status"), 150, "a status report at head office"
    )
    cameras = status["body"]["cameras"]
    assert {c["id"] for c in cameras} == set(e2e.stack.camera_ids())
    assert all(c["recording"]["state"] == "recording" for c in cameras), cameras
    assert e2e.site()["missing"] == 0


# -- 2. kill -9 of each daemon in turn --------------------------------------------------
def daemon_check(e2e: E2E, name: str) -> dict[str, Any] | None:
    """The daemon's check in /health, None while nvr-health does not answer."""
    try:
        body = requests.get(f"{e2e.stack.health_url}/health", timeout=5).json()
    except (requests.RequestException, ValueError):
        return None
    return next((c for c in body["checks"] if c["name"] == f"daemon:{name}"), None)


def crash_named(e2e: E2E, name: str) -> bool:
    """/health names the kill: the daemon's check warns, or nvr-health itself is silent."""
    if name == "nvr-health":
        return e2e.stack.health() == 0
    check = daemon_check(e2e, name)
    return check is not None and check["status"] != "ok"


def kill_and_recover(e2e: E2E, name: str) -> dict[str, float]:
    """Kill one daemon; time /health naming it (a warning, not a page) and clearing."""
    wait_until(lambda: e2e.stack.health() == 200, 120, f"/health 200 before killing {name}")
    killed_at = time.monotonic()
    old_pid = e2e.stack.kill(name)
    wait_until(lambda: crash_named(e2e, name), 30, f"/health naming kill -9 {name}")
    named_s = time.monotonic() - killed_at
    if name != "nvr-health":
        wait_until(
            lambda: "crashed and restarted" in (daemon_check(e2e, name) or {}).get("reason", ""),
            60,
            f"/health warning that {name} crashed and was restarted",
        )
    wait_until(
        lambda: e2e.stack.pid(name) not in (0, old_pid) and e2e.stack.health() == 200,
        120,
        f"{name} restarted and /health 200",
    )
    restarted_s = time.monotonic() - killed_at
    if name != "nvr-health":
        wait_until(
            lambda: (daemon_check(e2e, name) or {}).get("status") == "ok",
            60,
            f"the crash warning of {name} clearing after the hold time",
        )
    return {
        "named_after_s": round(named_s, 2),
        "healthy_again_after_s": round(restarted_s, 1),
        "warning_cleared_after_s": round(time.monotonic() - killed_at, 1),
    }


def test_kill_9_of_each_daemon_restarts_it_and_bounds_the_recording_gap(e2e: E2E) -> None:
    kills: dict[str, dict[str, float]] = {}
    backup_killed_ms = int(time.time() * 1000)
    kills["nvr-backup"] = kill_and_recover(e2e, "nvr-backup")
    # Measure the gap before the janitor may delete those segments of the small disk.
    time.sleep(3 * SEGMENT_S)
    gaps = backup_gaps(e2e, backup_killed_ms)
    kills["nvr-backup"]["max_gap_s"] = max(gaps.values())
    for name in DAEMONS:
        if name != "nvr-backup":
            kills[name] = kill_and_recover(e2e, name)
    e2e.results["kill_9"] = kills
    assert all(gap <= BACKUP_KILL_GAP_BOUND_S for gap in gaps.values()), gaps


def backup_gaps(e2e: E2E, killed_ms: int) -> dict[str, float]:
    """Per camera, the longest stretch without recording around the kill, in seconds."""
    window = (killed_ms - 2 * SEGMENT_S * 1000, killed_ms + 2 * SEGMENT_S * 1000)
    conn = sqlite3.connect(e2e.stack.state_file, timeout=10)
    try:
        gaps = {}
        for camera in e2e.stack.camera_ids():
            cov = coverage(conn, camera, *window)
            longest = max((g.end_ms - g.start_ms for g in cov.gaps), default=0)
            gaps[camera] = longest / 1000
            reasons = {g.reason for g in cov.gaps}
            assert reasons <= {"nvr-backup stopped unexpectedly"}, (camera, cov.to_json())
        return gaps
    finally:
        conn.close()


# -- 3 and 4: a camera offline for 2 min while head office is down for 5 min -------------
@pytest.fixture(scope="module")
def outage(e2e: E2E) -> dict[str, float]:
    """Run the outage timeline once; the tests below look at what it left."""
    stack, t = e2e.stack, e2e.timeline
    wait_until(lambda: e2e.stack.health() == 200, 120, "/health 200 before the outages")
    t["ho_down"] = time.time()
    stack.ctl("stop", "headoffice")
    t["cam_off"] = time.time()
    stack.set_fault(OFFLINE_CAMERA, "offline")
    max_backlog = 0
    while time.time() < t["ho_down"] + HEAD_OFFICE_DOWN_S:
        if "cam_on" not in t and time.time() >= t["cam_off"] + CAMERA_OFFLINE_S:
            stack.set_fault(OFFLINE_CAMERA, None)
            t["cam_on"] = time.time()
        if "cam_on" in t and e2e.camera_window is None and time.time() >= t["cam_on"] + 25:
            # Look now: on the small disk the janitor deletes this stretch within minutes.
            e2e.camera_window = camera_window(e2e, t["cam_off"], t["cam_on"])
        max_backlog = max(max_backlog, e2e.backlog())
        time.sleep(2)
    t["backlog_at_return"] = e2e.backlog()
    stack.ctl("start", "headoffice")
    t["ho_up"] = time.time()
    wait_until(lambda: e2e.backlog() == 0, 300, "head office backlog drained")
    t["drained"] = time.time()
    e2e.results["head_office_down"] = {
        "down_s": round(t["ho_up"] - t["ho_down"]),
        "max_backlog_reports": max_backlog,
        "drained_after_return_s": round(t["drained"] - t["ho_up"], 1),
    }
    return t


def camera_window(e2e: E2E, off: float, on: float) -> tuple[Coverage, int | None]:
    """Coverage of the offline camera around its outage, and its first segment after it."""
    off_ms, on_ms = int(off * 1000), int(on * 1000)
    conn = sqlite3.connect(e2e.stack.state_file, timeout=10)
    try:
        cov = coverage(conn, OFFLINE_CAMERA, off_ms - 5_000, on_ms + 20_000)
        first = conn.execute(
            "SELECT min(start_ms) FROM segments WHERE camera = ? AND start_ms >= ?",
            (OFFLINE_CAMERA, on_ms - 5_000),
        ).fetchone()[0]
    finally:
        conn.close()
    return cov, first


def test_camera_offline_two_minutes_events_gap_and_recovery(
    e2e: E2E, outage: dict[str, float]
) -> None:
    off_ms, on_ms = int(outage["cam_off"] * 1000), int(outage["cam_on"] * 1000)
    events = e2e.query(
        "SELECT created_at_ms, severity, kind, message FROM events WHERE camera = ?"
        " AND created_at_ms >= ? ORDER BY id",
        OFFLINE_CAMERA,
        off_ms,
    )
    down = [e for e in events if e[2] == "camera_not_recording" and e[0] < on_ms + 10_000]
    assert down and "camera offline" in down[0][3], events
    recovered = [e for e in events if e[2] == "camera_recovered" and e[0] >= on_ms]
    assert recovered, events
    assert e2e.camera_window is not None
    cov, first_after = e2e.camera_window
    assert first_after is not None, "no segment after the camera came back"
    offline = [g for g in cov.gaps if g.reason == "camera offline"]
    assert offline, cov.to_json()
    gap_s = max(g.end_ms - g.start_ms for g in offline) / 1000
    assert CAMERA_OFFLINE_S - 10 <= gap_s <= CAMERA_OFFLINE_S + 30, cov.to_json()
    e2e.results["camera_offline"] = {
        "offline_s": CAMERA_OFFLINE_S,
        "coverage_gap_s": gap_s,
        "first_event_after_s": round((down[0][0] - off_ms) / 1000, 1),
        "first_event": down[0][2] + " " + down[0][1],
        "recording_again_after_s": round((first_after - on_ms) / 1000, 1),
        "recovery_event_after_s": round((recovered[0][0] - on_ms) / 1000, 1),
    }
    # Head office heard about it (after its own outage): the event reports for the camera.
    # Events of one camera within event_coalesce_seconds travel as one summary report.
    kinds = {
        (r["body"].get("camera"), kind)
        for r in e2e.received()
        for kind in [r["body"].get("event"), *(r["body"].get("coalesced") or {})]
    }
    assert (OFFLINE_CAMERA, "camera_not_recording") in kinds
    assert (OFFLINE_CAMERA, "camera_recovered") in kinds


def test_head_office_down_five_minutes_backlog_then_drained_in_order(
    e2e: E2E, outage: dict[str, float]
) -> None:
    # Four status reports at least (one a minute) piled up while head office was away.
    assert e2e.results["head_office_down"]["max_backlog_reports"] >= 4
    assert outage["backlog_at_return"] >= 4
    reports = e2e.received()
    backlog = [r for r in reports if _epoch(r["received_at"]) >= outage["ho_up"] - 1]
    assert len(backlog) >= outage["backlog_at_return"]
    # In order: head office received them in seq order (received_at never goes back).
    received_at = [_epoch(r["received_at"]) for r in reports]
    assert received_at == sorted(received_at)


def test_no_report_lost_or_duplicated_at_head_office(e2e: E2E, outage: dict[str, float]) -> None:
    reports = e2e.received()
    seqs = [r["seq"] for r in reports]
    last = e2e.last_seq()
    assert seqs == list(range(1, last + 1)), "missing or repeated seqs at head office"
    assert len({r["id"] for r in reports}) == len(reports)
    site = e2e.site()
    assert (site["missing"], site["gaps"]) == (0, [])
    e2e.results["reports"] = {
        "sent": last,
        "stored_at_head_office": len(reports),
        "missing": site["missing"],
        "redelivered_and_deduped": site["duplicates"],
    }


# -- 5. the recordings disk fills ---------------------------------------------------------
def test_janitor_keeps_the_small_disk_below_the_high_watermark_while_recording(
    e2e: E2E, outage: dict[str, float]
) -> None:
    deleted = e2e.query("SELECT count(*) FROM events WHERE kind = 'disk_segments_deleted'")
    assert deleted[0][0] > 0, "the disk never filled up to the janitor's threshold"
    peak = max(e2e.disk_percent)
    assert peak < HIGH_WATERMARK, f"disk reached {peak}% (high watermark {HIGH_WATERMARK}%)"
    now_ms = int(time.time() * 1000)
    for camera in e2e.stack.camera_ids():
        fresh = e2e.query(
            "SELECT count(*) FROM segments WHERE camera = ? AND start_ms > ?",
            camera,
            now_ms - 6 * SEGMENT_S * 1000,
        )
        assert fresh[0][0] >= 3, f"{camera} stopped recording on the full disk"
    e2e.results["disk"] = {
        "size": DISK_SIZE,
        "high_watermark_percent": HIGH_WATERMARK,
        "peak_percent": peak,
        "final_percent": e2e.disk_percent[-1],
        "janitor_passes": deleted[0][0],
        "samples": len(e2e.disk_percent),
    }


def test_healthy_again_at_the_end(e2e: E2E, outage: dict[str, float]) -> None:
    wait_until(lambda: e2e.stack.health() == 200, 120, "/health 200 after every fault")


def _epoch(text: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
