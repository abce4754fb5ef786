"""/health: the NOC's verdict and its reasons, for each kind of failure."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest
from flask.testing import FlaskClient

from nvr.health.app import create_app
from nvr.health.probes import ProbeBoard
from nvrtest.box import PASSWORD, TECH, TECH_PW, Box, make_box

pytestmark = pytest.mark.timeout(60)


def get_health(box: Box, probes: ProbeBoard | None = None) -> tuple[int, dict[str, Any]]:
    client: FlaskClient = create_app(box.sources(probes)).test_client()
    answer = client.get("/health")
    return answer.status_code, answer.get_json()


def failing(body: dict[str, Any]) -> dict[str, str]:
    return {check["name"]: check["reason"] for check in body["failing"]}


def test_healthy_box_answers_200_with_every_check(box: Box) -> None:
    code, body = get_health(box)
    assert (code, body["status"], body["failing"]) == (200, "healthy", [])
    names = {check["name"] for check in body["checks"]}
    assert {"daemon:nvr-backup", "daemon:nvr-uplink", "camera:cam01", "camera:cam02"} <= names
    assert {"disk", "uplink:head_office"} <= names
    assert body["skipped"]["mediamtx"].startswith("not configured")
    cam = next(c for c in body["checks"] if c["name"] == "camera:cam01")
    assert cam["recorder"] == "recording" and cam["validation"] == "ok"


def test_stale_daemon_heartbeat_is_critical(box: Box) -> None:
    box.beat("nvr-uplink", updated_at_ms=box.now - 60_000)
    code, body = get_health(box)
    assert (code, body["status"]) == (503, "unhealthy")
    assert "heartbeat 60 s old, expected every 5 s" in failing(body)["daemon:nvr-uplink"]


def test_killed_daemon_warns_until_it_stays_down(box: Box) -> None:
    """Under supervisord a killed daemon is back in seconds: no page unless it stays down."""
    gone = subprocess.Popen(["true"])
    gone.wait()
    box.beat("nvr-report", pid=gone.pid)
    code, body = get_health(box)
    assert (code, body["status"]) == (200, "degraded")
    assert (
        f"nvr-report (pid {gone.pid}) is gone: crashed or killed, waiting for its supervisor"
        in failing(body)["daemon:nvr-report"]
    )
    box.beat("nvr-report", pid=gone.pid, updated_at_ms=box.now - 20_000)  # stale: 15 s
    code, body = get_health(box)
    assert (code, body["status"]) == (503, "unhealthy")
    assert "is gone and did not come back for 20 s" in failing(body)["daemon:nvr-report"]


def test_daemon_restarted_after_a_crash_is_a_warning_for_the_hold_time(box: Box) -> None:
    box.beat("nvr-validator", crashed_at_ms=box.now - 5_000)
    code, body = get_health(box)
    assert (code, body["status"]) == (200, "degraded")
    assert (
        "nvr-validator was killed or crashed and restarted 5 s ago"
        in failing(body)["daemon:nvr-validator"]
    )
    box.beat("nvr-validator", crashed_at_ms=box.now - 61_000)  # hold: 60 s by default
    body = get_health(box)[1]
    assert body["status"] == "healthy", body["failing"]


def test_a_crash_loop_is_critical_until_the_window_holds_fewer_crashes(box: Box) -> None:
    for ago_s in (500, 300, 10):
        box.crash_event("nvr-uplink", box.now - ago_s * 1000)
    box.beat("nvr-uplink", crashed_at_ms=box.now - 10_000)
    code, body = get_health(box)
    assert code == 503
    assert (
        "nvr-uplink crash loop: crashed 3 times in the last 10 min"
        in failing(body)["daemon:nvr-uplink"]
    )
    with box.store.write() as conn:  # the oldest crash leaves the 10-minute window
        conn.execute(
            "UPDATE events SET created_at_ms = ? WHERE created_at_ms = ?",
            (box.now - 700_000, box.now - 500_000),
        )
    code, body = get_health(box)
    assert (code, body["status"]) == (200, "degraded")


def test_a_mediamtx_401_is_an_answer_and_livestream_down_is_named_once(box: Box) -> None:
    # mediamtx's API takes nvr-livestream's credentials only (docs/design/security.md): a 401
    # is mediamtx answering; with nvr-livestream stale the daemons check names it, and the
    # mediamtx check does not send the technician to a healthy mediamtx.
    box.beat("nvr-livestream", updated_at_ms=box.now - 60_000)
    board = ProbeBoard(get=lambda url, timeout: 401)
    board.refresh(box.config, box.now, livestream_in_use=True)
    reasons = failing(get_health(box, board)[1])
    assert "mediamtx" not in reasons
    assert "daemon:nvr-livestream" in reasons
    board = ProbeBoard(get=lambda url, timeout: 500)
    board.refresh(box.config, box.now, livestream_in_use=True)
    assert failing(get_health(box, board)[1])["mediamtx"].endswith("(systemctl status mediamtx)")


def test_daemon_that_never_started_is_critical(box: Box) -> None:
    with box.store.write() as conn:
        conn.execute("DELETE FROM heartbeats WHERE daemon = 'nvr-validator'")
    code, body = get_health(box)
    assert code == 503
    assert "never written a heartbeat" in failing(body)["daemon:nvr-validator"]


def test_camera_not_recording_is_critical_with_the_cause(box: Box) -> None:
    with box.store.write() as conn:
        conn.execute(
            "DELETE FROM segments WHERE camera = 'cam02' AND start_ms > ?", (box.now - 250_000,)
        )
    box.beat(
        "nvr-backup",
        {
            "blocked": None,
            "cameras": {
                "cam01": {"state": "recording"},
                "cam02": {"state": "waiting", "reason": "camera offline", "failures": 4},
            },
        },
    )
    code, body = get_health(box)
    assert code == 503
    reasons = failing(body)
    assert list(reasons) == ["camera:cam02"]
    assert "no new segment for 190 s (camera offline)" in reasons["camera:cam02"]
    # One word per cause: what `nvrctl coverage` says of the gap this makes.
    cam02 = next(c for c in body["checks"] if c["name"] == "camera:cam02")
    assert cam02["cause"] == "camera or network"


def test_a_camera_within_its_first_segment_is_starting_not_an_outage(box: Box) -> None:
    """Issue 24: a just-added camera is "starting" and "validation pending", the box healthy."""
    with box.store.write() as conn:
        for table in ("segments", "recording_runs", "validations"):
            conn.execute(f"DELETE FROM {table} WHERE camera = 'cam02'")
    box.run("cam02", box.now - 20_000, None, None)
    code, body = get_health(box)
    assert (code, body["status"], failing(body)) == (200, "healthy", {})
    cam = next(c for c in body["checks"] if c["name"] == "camera:cam02")
    assert (cam["status"], cam["recorder"], cam["validation"]) == ("ok", "starting", "pending")
    # A first attempt that already failed is an outage, not a start.
    box.beat(
        "nvr-backup",
        {
            "cameras": {
                "cam01": {"state": "recording"},
                "cam02": {"state": "waiting", "reason": "camera offline"},
            }
        },
    )
    code, body = get_health(box)
    assert code == 503
    assert failing(body)["camera:cam02"] == "cam02 has no recorded segment yet (camera offline)"
    box.beat("nvr-backup", {"cameras": {"cam01": {"state": "recording"}, "cam02": {}}})
    # Past the stale limit (2 x 60 s segments + 30 s) without a segment: an outage again.
    with box.store.write() as conn:
        conn.execute(
            "UPDATE recording_runs SET started_at_ms = ? WHERE camera = 'cam02'",
            (box.now - 200_000,),
        )
    code, body = get_health(box)
    assert code == 503
    assert failing(body)["camera:cam02"].startswith("cam02 has no recorded segment yet")


def test_failed_validation_warns_but_stays_200(box: Box) -> None:
    box.validation("cam01", "fail", "picture black for 4 s")
    code, body = get_health(box)
    assert (code, body["status"]) == (200, "degraded")
    assert "validation black failed: picture black for 4 s" in failing(body)["camera:cam01"]


@pytest.mark.parametrize(
    ("percent", "code", "status", "text"),
    [
        (97.0, 503, "unhealthy", "97.0% full (critical at 95%)"),
        (92.0, 200, "degraded", "92.0% full (above 90%)"),
    ],
)
def test_disk_over_threshold(box: Box, percent: float, code: int, status: str, text: str) -> None:
    box.hddmon(percent)
    answer_code, body = get_health(box)
    assert (answer_code, body["status"]) == (code, status)
    assert text in failing(body)["disk"]


def test_failing_smart_is_critical(box: Box) -> None:
    box.hddmon(40.0, smart={"/dev/sda": {"device": "/dev/sda", "passed": False}})
    code, body = get_health(box)
    assert code == 503
    assert "SMART of /dev/sda reports the disk failing" in failing(body)["disk"]


@pytest.mark.parametrize(
    ("minutes", "code", "status"), [(20, 200, "degraded"), (90, 503, "unhealthy")]
)
def test_old_uplink_backlog(box: Box, minutes: int, code: int, status: str) -> None:
    box.report(box.now - minutes * 60_000)
    box.report(box.now - 1_000)
    box.uplink(2, health="circuit open", error="HTTP 503 from head office")
    answer_code, body = get_health(box)
    assert (answer_code, body["status"]) == (code, status)
    reason = failing(body)["uplink:head_office"]
    assert f"oldest pending report is {minutes} min old (2 waiting, circuit open)" in reason
    assert "HTTP 503 from head office" in reason


def test_mediamtx_down_is_critical_when_live_view_is_used(tmp_path: Any) -> None:
    box = make_box(tmp_path, mediamtx_check="auto")
    box.beat("nvr-livestream")
    probes = ProbeBoard()
    probes.refresh(box.config, box.now, livestream_in_use=True)
    code, body = get_health(box, probes)
    assert code == 503
    assert "unreachable" in failing(body)["mediamtx"]
    assert "systemctl status mediamtx" in failing(body)["mediamtx"]
    box.store.close()


def test_mediamtx_up_is_ok(tmp_path: Any) -> None:
    box = make_box(tmp_path, mediamtx_check="always")
    probes = ProbeBoard(get=lambda url, timeout: 200)
    probes.refresh(box.config, box.now, livestream_in_use=False)
    code, body = get_health(box, probes)
    assert code == 200
    assert next(c for c in body["checks"] if c["name"] == "mediamtx")["reachable"] is True
    box.store.close()


def test_systemd_unit_failed_is_critical(box: Box, tmp_path: Any) -> None:
    (tmp_path / "systemd").mkdir()

    def systemctl(argv: Any) -> str:
        failed = "nvr-report" in argv[-1]
        return "ActiveState=failed\nSubState=failed\n" if failed else "ActiveState=active\n"

    probes = ProbeBoard(run=systemctl, systemd_dir=tmp_path / "systemd")
    probes.refresh(box.config, box.now, livestream_in_use=False)
    code, body = get_health(box, probes)
    assert code == 503
    assert "systemd unit nvr-report.service is failed/failed" in failing(body)["daemon:nvr-report"]


def test_live_and_ready(box: Box) -> None:
    client = create_app(box.sources()).test_client()
    assert client.get("/health/live").get_json() == {"status": "alive"}
    assert client.get("/ready").status_code == 200


def test_no_secret_in_any_answer(box: Box) -> None:
    box.beat(
        "nvr-backup",
        {
            "cameras": {
                "cam01": {
                    "state": "waiting",
                    "reason": f"auth failed for rtsp://admin:{PASSWORD}@10.0.0.7/x",
                }
            }
        },
        status=f"cam01 rtsp://admin:{PASSWORD}@10.0.0.7/x refused",
    )
    client = create_app(box.sources()).test_client()
    for path in ("/health", "/metrics", "/"):
        text = client.get(path, auth=(TECH, TECH_PW)).get_data(as_text=True)
        assert "cam01" in text
        assert PASSWORD not in text, path


def test_a_waiting_recorder_is_named_once(box: Box) -> None:
    """It read "recorder waiting (recorder waiting)" before issue 21."""
    recorders = {
        "cam01": {"state": "waiting", "reason": None, "failures": 0},
        "cam02": {"state": "backoff", "reason": "camera offline", "failures": 2},
    }
    box.beat("nvr-backup", {"blocked": None, "index_backlog": 0, "cameras": recorders})
    reasons = failing(get_health(box)[1])
    assert reasons["camera:cam01"] == "cam01: recorder waiting"
    assert reasons["camera:cam02"] == "cam02: recorder backoff (camera offline)"


def test_a_failed_state_backup_warns_under_disk(box: Box) -> None:
    box.hddmon(50.0, state_backup={"last": None, "path": None, "error": "disk full"})
    code, body = get_health(box)
    assert (code, body["status"]) == (200, "degraded")
    assert failing(body)["disk"] == "state-file backup failed: disk full"
