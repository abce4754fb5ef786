"""Every child the daemons start gets the same settings (nvr.core.process)."""

from __future__ import annotations

import json
import os
import sys

import pytest

from nvr.core.process import child_environment, run_child, run_command, spawn, stop_process

# What a child sees of its start: its session, its stdin, and the notify variables.
REPORT = (
    "import json, os, sys; print(json.dumps({'sid': os.getsid(0), 'stdin': sys.stdin.read(),"
    " 'notify': [k for k in ('NOTIFY_SOCKET', 'WATCHDOG_USEC') if k in os.environ]}))"
)


def test_run_child_and_spawn_share_the_spawn_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Own session, stdin at end of file at once (never our terminal), no notify variables."""
    monkeypatch.setenv("NOTIFY_SOCKET", "/run/systemd/notify")
    monkeypatch.setenv("WATCHDOG_USEC", "20000000")
    ran = run_child([sys.executable, "-c", REPORT], timeout=30)
    assert ran.returncode == 0, ran.stderr
    proc = spawn([sys.executable, "-c", REPORT])
    out, _ = proc.communicate(timeout=30)
    for seen in (json.loads(ran.stdout), json.loads(out)):
        assert seen["sid"] != os.getsid(0)
        assert seen["stdin"] == ""
        assert seen["notify"] == []
    assert "NOTIFY_SOCKET" not in child_environment()


def test_run_command_raises_on_failure_and_stop_process_ends_a_child() -> None:
    assert run_command([sys.executable, "-c", "print('ok')"]) == "ok\n"
    with pytest.raises(Exception, match="returned non-zero exit status 3"):
        run_command([sys.executable, "-c", "raise SystemExit(3)"])
    with spawn([sys.executable, "-c", "import time; time.sleep(60)"]) as proc:
        assert stop_process(proc, timeout=10) == -15
