"""A config typo as a technician meets it (issue 24): real nvr-health, a real second daemon.

A rejected reload keeps the daemons on their config AND shows: `nvrctl status` still works
and names the file and key, /health warns, the status page lists it. A daemon that cannot
start because of the file is "config invalid", not "crashed or killed". `nvrctl config
apply` refuses a broken file without signalling anyone, and reports who accepted a good one.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from health.test_daemon import ARTIFACTS as HEALTH_ARTIFACTS
from health.test_daemon import chromium
from nvr.core.passwords import hash_password
from nvrtest import Child, base_config, query_state, wait_until

pytestmark = pytest.mark.timeout(150)

SAMPLE = Path(__file__).resolve().parents[1] / "core" / "sample_daemon.py"
TECH, TECH_PW = "tech", "tech-sees-all-7c2"
TYPO = "recording.segment_secnds"
ARTIFACTS = HEALTH_ARTIFACTS.parent / "operations"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _fetch(url: str) -> str:
    request = urllib.request.Request(url)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return str(answer.read().decode())
    except urllib.error.HTTPError as err:  # 503 still carries the body
        return str(err.read().decode())


class Site:
    """A config file, nvr-health and the sample daemon running on it."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.data: dict[str, Any] = base_config(
            tmp,
            cameras=[],
            health={"listen": f"127.0.0.1:{_free_port()}", "daemons": ["nvr-health"]},
            livestream={
                "mediamtx_api": f"http://127.0.0.1:{_free_port()}",
                "viewers": [
                    {"user": TECH, "password_hash": hash_password(TECH_PW), "cameras": "all"}
                ],
            },
        )
        self.path = tmp / "nvr.yaml"
        self.good = yaml.safe_dump(self.data)
        self.path.write_text(self.good)
        self.state = Path(self.data["storage"]["state_file"])
        self.health = Child(tmp, "health")
        self.sample = Child(tmp, "sample")
        self.base = f"http://{self.data['health']['listen']}"

    def start_health(self) -> None:
        self.health.spawn([sys.executable, "-m", "nvr.health.main", "--config", str(self.path)])

    def start_sample(self) -> None:
        self.sample.spawn([sys.executable, str(SAMPLE), "--config", str(self.path)])

    def loads(self) -> dict[str, tuple[str, str | None]]:
        rows = query_state(self.state, "SELECT daemon, outcome, error FROM config_loads")
        return {row[0]: (row[1], row[2]) for row in rows}

    def wait_outcome(self, daemon: str, outcome: str) -> None:
        wait_until(
            lambda: self.loads().get(daemon, ("", None))[0] == outcome,
            60,
            f"{daemon} {outcome}",
        )

    def health_json(self) -> dict[str, Any]:
        return dict(json.loads(_fetch(f"{self.base}/health")))

    def wait_failing(self, check: str, text: str, what: str) -> dict[str, Any]:
        """The /health body once `check` fails with `text` in its reason."""

        def body() -> dict[str, Any] | None:
            answer = self.health_json()
            return answer if text in _failing(answer, check) else None

        return dict(wait_until(body, 20, what))

    def nvrctl(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "nvr.cli.main", *args, "--config", str(self.path)],
            capture_output=True,
            text=True,
            timeout=90,
        )


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    made = Site(tmp_path)
    made.start_health()
    made.start_sample()
    try:
        yield made
    finally:
        for child in (made.sample, made.health):
            if child.proc is not None and child.proc.poll() is None:
                child.stop()
    for child in (made.sample, made.health):
        assert "Traceback" not in child.log()


def _failing(body: dict[str, Any], name: str) -> str:
    return next((f["reason"] for f in body["failing"] if f["name"] == name), "")


def test_a_config_typo_shows_everywhere_and_apply_reports_who_accepted(site: Site) -> None:
    site.wait_outcome("nvr-health", "accepted")
    site.wait_outcome("nvr-sample", "accepted")

    # A good file: both daemons reload and say so.
    done = site.nvrctl("config", "apply")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "nvr-health       accepted (sha256 " in done.stdout
    assert "nvr-sample       accepted (sha256 " in done.stdout

    # The typo: `apply` refuses the file and signals nobody; the error guesses the key.
    site.path.write_text(site.good + "recording:\n  segment_secnds: 10\n")
    before = site.loads()
    done = site.nvrctl("config", "apply")
    assert done.returncode == 1
    assert done.stderr.strip() == (
        f"nvrctl: error: {site.path}: {TYPO}: unknown key (did you mean 'segment_seconds'?"
        " every key: `nvrctl config schema` or /usr/share/doc/nvr/examples/nvr.yaml)"
    )
    assert site.loads() == before

    # A technician's `systemctl reload` anyway: both daemons reject it and keep running.
    for child in (site.health, site.sample):
        child.signal(signal.SIGHUP)
    site.wait_outcome("nvr-health", "rejected")
    site.wait_outcome("nvr-sample", "rejected")
    assert site.health.proc is not None and site.health.proc.poll() is None

    # /health: a warning naming the file and the key; the box stays healthy otherwise.
    body = site.wait_failing("config", "config invalid", "config warning")
    reason = _failing(body, "config")
    assert reason.startswith(f"config invalid: {site.path}: {TYPO}: unknown key")
    assert "nvr-health, nvr-sample kept the previous config" in reason

    # `nvrctl status` works on the broken file and says first what is wrong with it.
    done = site.nvrctl("status")
    first = done.stdout.splitlines()[0]
    assert first.startswith(f"config invalid: {site.path}: {TYPO}: unknown key"), done.stdout
    assert "WARN config: config invalid:" in done.stdout
    assert done.stderr == ""

    # Even YAML that does not parse leaves the dashboard: read from the state file alone.
    site.path.write_text(site.good + "recording: [\n")
    done = site.nvrctl("status")
    assert done.stdout.startswith(f"config invalid: {site.path}: line "), done.stdout + done.stderr
    assert "nvr-health" in done.stdout and "WARN config: config invalid:" in done.stdout
    site.path.write_text(site.good + "recording:\n  segment_secnds: 10\n")

    # The status page lists it under "Needs attention" (Chromium, with a screenshot).
    page_url = site.base.replace("http://", f"http://{TECH}:{TECH_PW}@") + "/"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "status-page-config-invalid.png"
    shot.unlink(missing_ok=True)
    taken = chromium(page_url, f"--screenshot={shot}")
    assert shot.is_file() and shot.stat().st_size > 10_000, taken.stderr[-2000:]
    page = chromium(page_url, "--dump-dom").stdout
    assert "Needs attention" in page and f"config invalid: {site.path}: {TYPO}" in page

    # A daemon that restarts while the file is broken: one line, exit 1, and /health says
    # "config invalid", not "crashed or killed".
    assert site.sample.proc is not None
    site.sample.kill()
    site.start_sample()
    assert site.sample.proc is not None and site.sample.proc.wait(60) == 1
    site.sample.proc = None
    assert f"nvr-sample: error: {site.path}: {TYPO}: unknown key" in site.sample.log()
    site.wait_outcome("nvr-sample", "refused")
    body = site.wait_failing("daemon:nvr-sample", "cannot start", "nvr-sample: config invalid")
    daemon_reason = _failing(body, "daemon:nvr-sample")
    assert daemon_reason.startswith(f"config invalid: {site.path}: {TYPO}")
    assert "crashed or killed" not in daemon_reason
    assert "nvr-sample could not start" in _failing(body, "config")

    # Fixed and applied: the running daemon accepts, the warning goes once the other starts.
    site.path.write_text(site.good)
    done = site.nvrctl("config", "apply")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "nvr-health       accepted" in done.stdout and "nvr-sample" not in done.stdout
    site.start_sample()
    site.wait_outcome("nvr-sample", "accepted")
    wait_until(lambda: not _failing(site.health_json(), "config"), 20, "config warning cleared")
