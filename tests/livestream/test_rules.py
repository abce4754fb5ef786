"""The decisions nvr-livestream makes, without processes: who may watch, what to change."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from nvr.core.config import load_config
from nvr.core.config.livestream import LivestreamConfig
from nvr.core.errors import ConfigError
from nvr.core.passwords import verify_password
from nvr.livestream.auth import AuthQuestion, Gatekeeper
from nvr.livestream.constants import AUTH_ROUTE
from nvr.livestream.sync import plan

from .harness import ALICE, ALICE_PW, BOB, BOB_PW, SHIPPED_MEDIAMTX

CAMERAS = frozenset({"cam01", "cam02"})
URL = "rtsp://admin:pw-1234@10.0.0.1/cam01"


def ask(
    keeper: Gatekeeper, action: str, path: str, user: str, password: str, ip: str = "10.1.2.3"
) -> bool:
    return keeper.allows(AuthQuestion(action, path, user, password, ip))


@pytest.fixture
def keeper(viewers: list[dict[str, Any]]) -> Gatekeeper:
    return Gatekeeper(LivestreamConfig(viewers=viewers, publisher=BOB), CAMERAS)


@pytest.mark.timeout(30)
def test_viewers_read_only_the_cameras_they_are_permitted(keeper: Gatekeeper) -> None:
    assert ask(keeper, "read", "cam01", ALICE, ALICE_PW)
    assert ask(keeper, "read", "cam02", BOB, BOB_PW)
    assert not ask(keeper, "read", "cam01", BOB, BOB_PW)
    assert not ask(keeper, "read", "cam01", ALICE, BOB_PW)
    assert not ask(keeper, "read", "cam01", "mallory", ALICE_PW)
    # Not a camera (disabled, removed, or a made-up path): nobody reads it.
    assert not ask(keeper, "read", "cam03", ALICE, ALICE_PW)
    assert not ask(keeper, "playback", "cam01", ALICE, ALICE_PW)


@pytest.mark.timeout(30)
def test_no_credentials_are_refused_so_mediamtx_asks_for_them(keeper: Gatekeeper) -> None:
    assert not ask(keeper, "read", "cam01", "", "")


@pytest.mark.timeout(30)
def test_only_the_configured_publisher_may_publish(
    keeper: Gatekeeper, viewers: list[dict[str, Any]]
) -> None:
    assert ask(keeper, "publish", "cam02", BOB, BOB_PW)
    assert not ask(keeper, "publish", "cam02", BOB, ALICE_PW)
    assert not ask(keeper, "publish", "cam01", ALICE, ALICE_PW)
    nobody = Gatekeeper(LivestreamConfig(viewers=viewers), CAMERAS)
    assert not ask(nobody, "publish", "cam02", BOB, BOB_PW)


@pytest.mark.timeout(30)
@pytest.mark.parametrize("action", ["api", "metrics", "pprof"])
def test_api_and_metrics_only_from_localhost_with_livestreams_credentials(
    keeper: Gatekeeper, action: str
) -> None:
    user, password = keeper.api.user, keeper.api.password.reveal()
    assert ask(keeper, action, "", user, password, ip="127.0.0.1")
    assert ask(keeper, action, "", user, password, ip="::1")
    assert not ask(keeper, action, "", user, password, ip="192.168.1.20")
    # Any other local caller (another daemon, a user on the box): no camera URLs for it.
    assert not ask(keeper, action, "", "", "", ip="127.0.0.1")
    assert not ask(keeper, action, "", ALICE, ALICE_PW, ip="127.0.0.1")
    assert not ask(keeper, action, "", user, password + "x", ip="127.0.0.1")


@pytest.mark.timeout(30)
def test_a_path_already_right_is_left_alone() -> None:
    wanted = {"cam01": {"source": URL, "sourceOnDemand": True, "rtspTransport": "tcp"}}
    current = {"cam01": dict(wanted["cam01"])}
    assert plan(wanted, current).empty


@pytest.mark.timeout(30)
def test_only_the_changed_keys_of_a_path_are_patched() -> None:
    wanted = {"cam01": {"source": URL, "sourceOnDemand": False, "rtspTransport": "tcp"}}
    current = {"cam01": {"source": URL, "sourceOnDemand": True, "rtspTransport": "tcp"}}
    changes = plan(wanted, current)
    assert changes.patch == {"cam01": {"sourceOnDemand": False}}
    assert not changes.add and not changes.delete


@pytest.mark.timeout(30)
def test_paths_of_removed_cameras_go_but_catch_all_and_regex_paths_stay() -> None:
    current: dict[str, dict[str, Any]] = {"cam09": {}, "all_others": {}, "~^live/.*$": {}}
    wanted = {"cam01": {"source": URL, "sourceOnDemand": True, "rtspTransport": "tcp"}}
    changes = plan(wanted, current)
    assert changes.delete == ("cam09",)
    assert list(changes.add) == ["cam01"]


@pytest.mark.timeout(60)
def test_hashpw_prints_a_hash_that_verifies_and_not_the_password() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "nvr.livestream.hashpw"],
        input="correct horse battery\n",
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    encoded = result.stdout.strip()
    assert "correct horse" not in result.stdout
    assert verify_password("correct horse battery", encoded)
    assert not verify_password("correct horse", encoded)


@pytest.mark.timeout(30)
def test_a_plain_password_in_place_of_a_hash_is_a_config_error(
    write_config: Callable[..., Path],
) -> None:
    path = write_config(livestream={"viewers": [{"user": "eve", "password_hash": "hunter22"}]})
    with pytest.raises(ConfigError, match=r"livestream\.viewers\[0\]\.password_hash"):
        load_config(path)


@pytest.mark.timeout(30)
def test_the_publisher_must_be_a_viewer_account(
    write_config: Callable[..., Path], viewers: list[dict[str, Any]]
) -> None:
    path = write_config(livestream={"viewers": viewers, "publisher": "ghost"})
    with pytest.raises(ConfigError, match="publisher 'ghost' is not one of the viewers"):
        load_config(path)


@pytest.mark.timeout(30)
def test_shipped_mediamtx_config_keeps_api_local_and_asks_nvr_livestream() -> None:
    shipped = yaml.safe_load(SHIPPED_MEDIAMTX.read_text())
    assert shipped["apiAddress"].startswith("127.0.0.1:")
    assert shipped["metricsAddress"].startswith("127.0.0.1:")
    assert shipped["authMethod"] == "http"
    listen = LivestreamConfig().listen
    assert shipped["authHTTPAddress"] == f"http://{listen}{AUTH_ROUTE}"
    assert shipped["rtsp"] and shipped["hls"] and shipped["webrtc"]
    assert shipped["paths"] == {}  # nvr-livestream owns the paths
