"""Times on the command line (issue 24): printed in local time with the zone, UTC in --json,
and a typed time without an offset says which zone it was read in."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(60)

# India has no daylight saving time: the zone's name and offset do not depend on the date.
ZONE = "Asia/Kolkata"


def run(nvrctl: list[str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*nvrctl, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "TZ": ZONE},
    )


def test_typed_local_times_name_their_zone_and_json_stays_utc(
    write_config: Callable[..., Path], nvrctl: list[str]
) -> None:
    config = str(write_config())
    span = ["--camera", "cam01", "--from", "2026-11-21 08:00", "--to", "2026-11-21 09:00"]
    done = run(nvrctl, "coverage", "--config", config, *span)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "2026-11-21 08:00 and 2026-11-21 09:00 read as local time, IST (UTC+05:30)",
        "cam01: 0.0 of 60.0 minutes recorded (0.0%)",
        "  gap 2026-11-21 08:00:00 IST → 2026-11-21 09:00:00 IST (3600s): not recording",
    ]
    answer = json.loads(run(nvrctl, "coverage", "--config", config, *span, "--json").stdout)
    assert answer["gaps"][0]["cause"] == "not recording"  # the word `nvrctl status` uses
    assert (answer["from"], answer["gaps"][0]["end"]) == (
        "2026-11-21T02:30:00.000Z",
        "2026-11-21T03:30:00.000Z",
    )
    # An offset given is not local time: nothing to say about the zone.
    utc = run(nvrctl, "coverage", "--config", config, "--camera", "cam01",
              "--from", "2026-11-21T02:30:00Z", "--to", "2026-11-21T03:30:00Z")  # fmt: skip
    assert utc.stdout.splitlines()[0] == "cam01: 0.0 of 60.0 minutes recorded (0.0%)"
