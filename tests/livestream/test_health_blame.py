"""/health with nvr-livestream down names nvr-livestream, not mediamtx (issue 21).

mediamtx asks nvr-livestream's auth callback about every API call (the shipped
mediamtx.yml), so with nvr-livestream killed the real mediamtx refuses nvr-health's probe
with 401. A 401 is mediamtx answering (its API takes nvr-livestream's credentials only,
docs/design/security.md), so the mediamtx check stays green and the daemon check is the
one that names the unit to look at.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from nvr.core.config import load_config
from nvr.core.state import now_ms
from nvr.health.app import create_app
from nvr.health.probes import ProbeBoard
from nvr.health.sources import Sources
from nvrtest import wait_until

from .harness import Livestream

pytestmark = pytest.mark.timeout(120)


def test_a_dead_livestream_is_named_and_mediamtx_is_not_blamed(
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
    assert probe is not None and probe.reachable, probe  # mediamtx answered (401)
    client = create_app(Sources(config, board)).test_client()

    def failing() -> list[dict[str, str]]:
        body = client.get("/health").get_json()
        return [c for c in body["failing"] if "nvr-livestream" in c["name"] + c["reason"]]

    named = wait_until(failing, 30, "/health naming nvr-livestream")
    body = client.get("/health").get_json()
    assert not [c for c in body["failing"] if c["name"] == "mediamtx"], body["failing"]
    assert not [c for c in body["failing"] if "systemctl status mediamtx" in c["reason"]]
    assert named
