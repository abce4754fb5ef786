"""/health with nvr-livestream down names nvr-livestream, not mediamtx (issue 21).

mediamtx asks nvr-livestream's auth callback about every API call (the shipped
mediamtx.yml), so with nvr-livestream killed the real mediamtx refuses nvr-health's probe.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from nvr.core.config import load_config
from nvr.core.state import now_ms
from nvr.health.app import create_app
from nvr.health.probes import ProbeBoard
from nvr.health.sources import Sources

from .harness import Livestream

pytestmark = pytest.mark.timeout(120)


def test_mediamtx_refusing_for_a_dead_livestream_names_nvr_livestream(
    livestream: Callable[..., Livestream],
) -> None:
    live = livestream(["cam01"])
    live.wait_paths({"cam01"})
    config = load_config(live.config_path)
    board = ProbeBoard()  # real HTTP to the real mediamtx
    board.refresh(config, now_ms(), livestream_in_use=True)
    assert board.results.mediamtx is not None and board.results.mediamtx.reachable

    assert live.proc is not None
    live.proc.kill()  # nvr-livestream crashes; mediamtx itself is fine
    live.proc.wait(10)
    board.refresh(config, now_ms(), livestream_in_use=True)
    probe = board.results.mediamtx
    assert probe is not None and not probe.reachable
    body = create_app(Sources(config, board)).test_client().get("/health").get_json()
    (check,) = [c for c in body["failing"] if c["name"] == "mediamtx"]
    assert probe.detail in check["reason"]  # what mediamtx said, e.g. "answered HTTP 401"
    assert "nvr-livestream (mediamtx's auth callback) is down" in check["reason"]
    assert check["reason"].endswith("(systemctl status nvr-livestream)")
