"""Recording first on a 2-core box: the units rank nvr-backup above the batch daemons.

`systemd-analyze verify` (tests/packaging/test_units.py) checks that the keys load; this
checks the ranking the operator relies on (docs/design/cameras.md, invariant 7).
"""

from __future__ import annotations

import configparser
from pathlib import Path

import pytest

SYSTEMD_DIR = Path(__file__).resolve().parents[2] / "systemd"
RECORDER = "nvr-backup.service"
BATCH = ("nvr-validator.service", "nvr-report.service", "nvr-uplink.service")
UNITS = sorted(p.name for p in SYSTEMD_DIR.glob("*.service"))
UNIT_SUFFIXES = {"K": 2**10, "M": 2**20, "G": 2**30}


def service(unit: str) -> dict[str, str]:
    parser = configparser.RawConfigParser(strict=False, delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(SYSTEMD_DIR / unit)
    return dict(parser["Service"])


def size(value: str) -> int:
    return int(value[:-1]) * UNIT_SUFFIXES[value[-1]] if value[-1] in UNIT_SUFFIXES else int(value)


@pytest.mark.parametrize("unit", UNITS)
def test_every_unit_has_a_memory_ceiling_and_a_rank(unit: str) -> None:
    keys = service(unit)
    for key in ("CPUWeight", "IOWeight", "Nice", "MemoryMax"):
        assert key in keys, f"{unit} has no {key}="
    assert size(keys["MemoryMax"]) >= 128 * 2**20, f"{unit}: MemoryMax too small to run"


@pytest.mark.parametrize("unit", BATCH)
def test_the_recorder_outranks_the_batch_daemons(unit: str) -> None:
    recorder, other = service(RECORDER), service(unit)
    assert int(recorder["CPUWeight"]) >= 10 * int(other["CPUWeight"])
    assert int(recorder["IOWeight"]) >= 10 * int(other["IOWeight"])
    assert int(recorder["Nice"]) < int(other["Nice"])
