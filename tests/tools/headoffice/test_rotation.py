"""Rotating a site secret with reports in flight (issue 18, secret rotation).

A real nvr-uplink delivers a steady stream of reports to a real nvr-headoffice while the
secret changes: head office first takes both secrets (its sites file, SIGHUP), then
`nvrctl secret rotate` installs the new one on the box (SIGHUP). Not one report is lost or
refused; after `previous_until` the old secret is refused; commands signed with the old
secret are run only within the box's rotation window.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from nvr.core.config import load_config
from nvr.core.state import StateStore
from nvr.core.tables.outbox import append_report, dead_letters
from nvr.uplink.mqtt.commands.wire import Destination, Refusal, authenticate, signature
from nvrtest import NvrDaemon, wait_until
from nvrtest.headoffice import (
    BOTH_ENGINES,
    OTHER_SECRET,
    OTHER_SITE,
    SECRET,
    SITE,
    HeadOffice,
    envelope,
    uplink_box_config,
)

pytestmark = pytest.mark.timeout(150)

NEW_SECRET = "rotated-secret-2f9e41c7b3"


def rotating_sites(root: Path, until: datetime) -> None:
    """Head office's side: the new secret, and the old one until `until`."""
    (root / "new.key").write_text(NEW_SECRET + "\n")
    sites = {
        SITE: {
            "secret_file": str(root / "new.key"),
            "previous_secret_file": str(root / f"{SITE}.key"),
            "previous_until": until.isoformat(),
        },
        OTHER_SITE: {"secret": OTHER_SECRET},
    }
    (root / "sites.yaml").write_text(yaml.safe_dump({"sites": sites}))


class Writer:
    """Appends a report every 20 ms, as nvr-report would, until stopped."""

    def __init__(self, state_file: Path) -> None:
        self.count = 0
        self._stop = threading.Event()
        self._state_file = state_file
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        # Its own connection: SQLite connections stay in the thread that opened them.
        with StateStore.open(self._state_file) as store:
            while not self._stop.wait(0.02):
                append_report(store, SITE, "event", {"event": "tick", "n": self.count})
                self.count += 1

    def stop(self) -> int:
        self._stop.set()
        self._thread.join(10)
        return self.count


@pytest.fixture
def box(tmp_path: Path, headoffice: HeadOffice) -> Iterator[tuple[Path, NvrDaemon]]:
    (tmp_path / "box").mkdir()
    config = uplink_box_config(tmp_path / "box", headoffice.reports_url)
    uplink = NvrDaemon("nvr.uplink.main", config)
    yield config, uplink
    assert uplink.stop() == 0
    text = uplink.log()
    assert SECRET not in text and NEW_SECRET not in text
    assert "Traceback" not in text


def reloaded(headoffice: HeadOffice, times: int) -> Callable[[], bool]:
    return lambda: headoffice.log().count("sites file reloaded") >= times


@BOTH_ENGINES
def test_rotation_with_reports_in_flight_loses_and_refuses_none(
    tmp_path: Path, headoffice: HeadOffice, box: tuple[Path, NvrDaemon]
) -> None:
    config, uplink = box
    state_file = config.parent / "state" / "state.db"
    writer = Writer(state_file)
    try:
        wait_until(lambda: headoffice.site()["reports"] >= 20, 60, "reports flowing")
        # 1. Head office takes both secrets.
        rotating_sites(tmp_path, datetime.now(UTC) + timedelta(hours=1))
        headoffice.signal(signal.SIGHUP)
        wait_until(reloaded(headoffice, 1), 20, "head office reloaded its sites")
        before = headoffice.site()["reports"]
        wait_until(lambda: headoffice.site()["reports"] >= before + 20, 60, "old secret accepted")
        # 2. The box switches.
        rotated = subprocess.run(
            [sys.executable, "-m", "nvr.cli.main", "secret", "rotate", "--config", str(config),
             "--new-secret-file", str(tmp_path / "new.key")],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert rotated.returncode == 0, rotated.stderr
        assert NEW_SECRET not in rotated.stdout + rotated.stderr
        uplink.signal(signal.SIGHUP)
        wait_until(lambda: "uplink settings changed" in uplink.log(), 20, "uplink reloaded")
        after = headoffice.site()["reports"]
        wait_until(lambda: headoffice.site()["reports"] >= after + 20, 60, "new secret accepted")
    finally:
        total = writer.stop()
    wait_until(lambda: headoffice.site()["reports"] == total, 60, f"all {total} reports")
    site = headoffice.site()
    assert (site["missing"], site["last_seq"]) == (0, total)
    log = headoffice.log()
    assert "refused from" not in log  # not one 401 during the rotation
    assert "signed with its previous secret (rotation in progress)" in log
    with StateStore.open(state_file) as store:
        assert dead_letters(store.read()) == []
    key = config.parent / "site.key"
    assert key.read_text().strip() == NEW_SECRET
    assert (config.parent / "site.key.previous").read_text().strip() == SECRET
    assert key.stat().st_mode & 0o777 == 0o640  # the mode of the file it replaced


@BOTH_ENGINES
def test_the_old_secret_is_refused_after_the_window(tmp_path: Path, headoffice: HeadOffice) -> None:
    rotating_sites(tmp_path, datetime.now(UTC) + timedelta(hours=1))
    headoffice.signal(signal.SIGHUP)
    wait_until(reloaded(headoffice, 1), 20, "reload")
    assert headoffice.post([envelope(1)], secret=SECRET).status_code == 200
    rotating_sites(tmp_path, datetime.now(UTC) - timedelta(seconds=1))
    headoffice.signal(signal.SIGHUP)
    wait_until(reloaded(headoffice, 2), 20, "second reload")
    assert headoffice.post([envelope(2)], secret=SECRET).status_code == 401
    assert headoffice.post([envelope(2)], secret=NEW_SECRET).status_code == 200


def test_commands_signed_with_the_old_secret_run_only_within_the_window(tmp_path: Path) -> None:
    config = uplink_box_config(tmp_path, "http://127.0.0.1:9/api/nvr/reports")
    key = tmp_path / "site.key"
    (tmp_path / "site.key.previous").write_text(SECRET + "\n")
    key.write_text(NEW_SECRET + "\n")
    uplink = load_config(config).uplink
    now = datetime.now(UTC)
    command = {"id": "c-1", "action": "get_status", "args": {}, "site": SITE,
               "topic": f"control/{SITE}", "issued_at": now.isoformat()}  # fmt: skip
    old_signed = {**command, "signature": signature(command, uplink.commands_secrets(now)[1])}
    to = Destination(SITE, f"control/{SITE}")
    assert [k.reveal() for k in uplink.commands_secrets(now)] == [NEW_SECRET, SECRET]
    assert authenticate(old_signed, uplink.commands_secrets(now), "mqtt", to).id == "c-1"
    # The window runs from when the .previous file was written (24 h by default).
    later = now + timedelta(hours=25)
    assert [k.reveal() for k in uplink.commands_secrets(later)] == [NEW_SECRET]
    with pytest.raises(Refusal, match="bad signature"):
        authenticate(old_signed, uplink.commands_secrets(later), "mqtt", to)
