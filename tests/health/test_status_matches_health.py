"""The real `nvrctl status --json` prints the body the real nvr-health answers on /health.

One state file, both programs run as a technician and the NOC run them; the bodies agree
field for field (docs/design/health.md, invariant 7), apart from the moments they were
read at. The same state also shows that "stale" follows health.heartbeat_stale_factor in
nvr-report's status body, and that a secret in a status line reaches neither answer.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nvr.core.process import child_environment
from nvr.core.state import now_ms
from nvr.report.status import status_body
from nvrtest import NotifySocket
from nvrtest.box import PASSWORD, Box, make_box

from .test_daemon import fetch, running  # noqa: F401 (fixture)

pytestmark = pytest.mark.timeout(120)

# Promised interval 5 s x 100: a heartbeat is stale after 500 s, however slow the box.
STALE_FACTOR = 100
# Keys whose value is the moment of reading (or an age computed from it).
_MOMENT_KEYS = re.compile(r"(^checked_at_ms$|_age_s$|^age_seconds$)")


@pytest.fixture
def box(tmp_path: Path) -> Iterator[Box]:
    """Healthy but for nvr-report (600 s silent: stale) and nvr-uplink (30 s: not stale).

    Overrides the package's `box`, so test_daemon's `running` serves this one.
    """
    made = make_box(tmp_path, heartbeat_stale_factor=STALE_FACTOR)
    leaky = f"retrying rtsp://admin:{PASSWORD}@10.0.0.7/stream"
    made.beat("nvr-validator", status=leaky)
    made.beat("nvr-report", updated_at_ms=made.now - 600_000)
    made.beat("nvr-uplink", updated_at_ms=made.now - 30_000)
    yield made
    made.store.close()


def _timeless(value: Any, key: str = "") -> Any:
    """`value` without what depends on the moment of reading: ages and `N s` in reasons."""
    if _MOMENT_KEYS.search(key):
        return "<moment>"
    if isinstance(value, dict):
        return {k: _timeless(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_timeless(v) for v in value]
    if isinstance(value, str):
        return re.sub(r"\d+(\.\d+)? s\b", "N s", value)
    return value


def test_nvrctl_status_json_is_the_health_body(
    running: tuple[Box, str, NotifySocket],  # noqa: F811 (the imported fixture)
) -> None:
    stale_box, health_url, _ = running
    code, raw = fetch(f"{health_url}/health")
    cli = subprocess.run(
        [sys.executable, "-m", "nvr.cli.main", "status", "--json"],
        env={**child_environment(), "NVR_CONFIG": str(stale_box.config_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    from_http, from_cli = json.loads(raw), json.loads(cli.stdout)

    # The same verdict, the same code: 503 on the endpoint is exit 1 on the command line.
    assert (code, cli.returncode) == (503, 1), (from_http["failing"], cli.stderr)
    assert _timeless(from_cli) == _timeless(from_http)
    assert [f["name"] for f in from_http["failing"]] == ["daemon:nvr-report"]
    assert "nvr-report hung or crashed" in from_http["failing"][0]["reason"]
    # A status line that quotes a camera URL is redacted by the one heartbeat reader.
    for text in (raw.decode(), cli.stdout):
        assert PASSWORD not in text
    assert "retrying rtsp://" in raw.decode()

    # nvr-report's status body judges staleness by the same configured factor:
    # 30 s is stale under the old hard-coded 3 intervals, not under 100.
    daemons = status_body(stale_box.store.read(), stale_box.config, now_ms() - 60_000, now_ms())
    stale = {d["daemon"]: d["stale"] for d in daemons["daemons"]}
    assert stale["nvr-report"] and not stale["nvr-uplink"]
    assert all(PASSWORD not in d["status"] for d in daemons["daemons"])
