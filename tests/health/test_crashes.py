"""/health as the NOC's pager, run for real: nvr-health, a daemon killed with kill -9, and
an outbox filled as nvr-report fills it.

A crash its supervisor repaired is a warning (200, named in /health and /metrics); three in
ten minutes are a crash loop (503). An outbox over half full warns, from 90 % it is critical.
"""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import urllib.error
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nvr.core.process import child_environment
from nvr.core.tables.outbox import append_report
from nvrtest import wait_until
from nvrtest.box import DAEMONS, Box, kept_alive, make_box

from .test_daemon import fetch

pytestmark = pytest.mark.timeout(300)

SAMPLE = Path(__file__).resolve().parents[1] / "core" / "sample_daemon.py"
SAMPLE_NAME = "nvr-sample"
OUTBOX_MAX_ROWS = 100
# How long /health may take to show a change: nvr-health refreshes its probes every few
# seconds, but a busy 2-core box (other tests' cameras, daemons starting) can hold a
# Python process for many. A deadline, not a wait: each poll returns as soon as it holds.
VERDICT_DEADLINE_S = 60
# A restarted Python daemon's first heartbeat (imports, migrations check) under load.
START_DEADLINE_S = 90


class Children:
    """Processes started by a test, killed at its end whatever happens."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, argv: list[str], name: str) -> subprocess.Popen[bytes]:
        env = child_environment()
        env.pop("JOURNAL_STREAM", None)
        env.pop("NOTIFY_SOCKET", None)
        with (self.log_dir / f"{name}.log").open("ab") as log:
            proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
        self.procs.append(proc)
        return proc

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


@contextlib.contextmanager
def running_site(tmp_path: Path, daemons: list[str]) -> Iterator[tuple[Box, Children, str]]:
    """nvr-health for real on a simulated box whose `daemons` are required."""
    box = make_box(tmp_path, {"uplink": {"outbox_max_rows": OUTBOX_MAX_ROWS}}, daemons=daemons)
    children = Children(tmp_path)
    base = f"http://{box.config.health.listen}"
    with contextlib.ExitStack() as cleanup:  # undone last first: children, beats, store
        cleanup.callback(box.store.close)
        cleanup.enter_context(kept_alive(box, ("cam01", "cam02"), (SAMPLE_NAME, "nvr-health")))
        cleanup.callback(children.stop_all)
        children.start(
            [sys.executable, "-m", "nvr.health.main", "--config", str(box.config_path)],
            "health",
        )
        wait_until(lambda: answers(f"{base}/health/live"), START_DEADLINE_S, "nvr-health answers")
        yield box, children, base
    assert "Traceback" not in (tmp_path / "health.log").read_text()


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[Box, Children, str]]:
    with running_site(tmp_path, list(DAEMONS)) as running:
        yield running


@pytest.fixture
def site_with_sample(tmp_path: Path) -> Iterator[tuple[Box, Children, str]]:
    with running_site(tmp_path, [*DAEMONS, SAMPLE_NAME]) as running:
        yield running


def answers(url: str) -> bool:
    try:
        return fetch(url)[0] == 200
    except urllib.error.URLError:
        return False


def sample_check(base: str) -> tuple[int, dict[str, Any]]:
    """/health's status code and the sample daemon's check."""
    code, body = fetch(f"{base}/health")
    checks = json.loads(body)["checks"]
    return code, next(c for c in checks if c["name"] == f"daemon:{SAMPLE_NAME}")


def heartbeat_pid(box: Box) -> int | None:
    row = (
        box.store.read()
        .execute("SELECT pid FROM heartbeats WHERE daemon = ?", (SAMPLE_NAME,))
        .fetchone()
    )
    return int(row[0]) if row else None


def crash_and_restart(box: Box, children: Children, old: subprocess.Popen[bytes]) -> Any:
    """kill -9 the sample daemon and start it again, as supervisord would."""
    old.kill()
    old.wait()
    new = children.start([sys.executable, str(SAMPLE), "--config", str(box.config_path)], "sample")
    wait_until(
        lambda: heartbeat_pid(box) == new.pid, START_DEADLINE_S, "the restarted daemon's heartbeat"
    )
    return new


def test_a_repaired_crash_warns_and_a_crash_loop_pages(
    site_with_sample: tuple[Box, Children, str],
) -> None:
    box, children, base = site_with_sample
    argv = [sys.executable, str(SAMPLE), "--config", str(box.config_path)]
    sample = children.start(argv, "sample")
    wait_until(
        lambda: heartbeat_pid(box) == sample.pid, START_DEADLINE_S, "the sample daemon's heartbeat"
    )
    wait_until(
        lambda: sample_check(base)[0] == 200, VERDICT_DEADLINE_S, "/health 200 with the daemon up"
    )

    sample = crash_and_restart(box, children, sample)
    code, check = wait_until(
        lambda: (seen := sample_check(base))[1]["status"] == "warning" and seen,
        VERDICT_DEADLINE_S,
        "the crash named as a warning",
    )
    assert code == 200
    assert f"{SAMPLE_NAME} was killed or crashed and restarted" in check["reason"]
    assert check["recent_crashes"] == 1
    metrics = fetch(f"{base}/metrics")[1].decode()
    assert f'nvr_daemon_recent_crashes{{daemon="{SAMPLE_NAME}"}} 1.0' in metrics
    assert f'nvr_daemon_status{{daemon="{SAMPLE_NAME}"}} 1.0' in metrics

    for _ in range(2):
        sample = crash_and_restart(box, children, sample)
    code, check = wait_until(
        lambda: (seen := sample_check(base))[0] == 503 and seen,
        VERDICT_DEADLINE_S,
        "503 for the crash loop",
    )
    assert f"{SAMPLE_NAME} crash loop: crashed 3 times in the last 10 min" in check["reason"]
    assert (
        f'nvr_daemon_status{{daemon="{SAMPLE_NAME}"}} 2.0' in fetch(f"{base}/metrics")[1].decode()
    )


def outbox_check(base: str) -> tuple[int, dict[str, Any]]:
    code, body = fetch(f"{base}/health")
    return code, next(c for c in json.loads(body)["checks"] if c["name"] == "outbox")


def fill_outbox(box: Box, reports: int) -> None:
    """Status reports appended as nvr-report appends them, with no uplink taking them."""
    for _ in range(reports):
        append_report(box.store, "test-01", "status", {"cameras": {}, "note": "x" * 200})


def test_a_filling_outbox_warns_and_a_full_one_is_critical(
    site: tuple[Box, Children, str],
) -> None:
    box, _, base = site
    assert outbox_check(base)[1]["status"] == "ok"
    fill_outbox(box, 60)
    code, check = wait_until(
        lambda: (seen := outbox_check(base))[1]["status"] == "warning" and seen,
        VERDICT_DEADLINE_S,
        "a warning",
    )
    assert code == 200
    assert check["reason"].startswith("outbox 60 % full (60 reports")
    assert "nvr_outbox_fill_ratio 0.6" in fetch(f"{base}/metrics")[1].decode()
    fill_outbox(box, 35)
    code, check = wait_until(
        lambda: (seen := outbox_check(base))[0] == 503 and seen,
        VERDICT_DEADLINE_S,
        "503 for a full outbox",
    )
    assert check["status"] == "critical" and "drops the least important" in check["reason"]
    assert "nvr_outbox_fill_ratio 0.95" in fetch(f"{base}/metrics")[1].decode()
