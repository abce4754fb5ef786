"""SMART: parsing real smartctl -j output, and what the daemon does with it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from nvr.core.tables.events import Severity
from nvr.hddmon.smart import parse_smartctl, read_smart, smart_problems
from nvrtest.recordings import events, make_daemon, make_env, settle

pytestmark = pytest.mark.timeout(60)

FIXTURES = Path(__file__).with_name("fixtures")


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


def test_healthy_sata_disk() -> None:
    report = parse_smartctl("/dev/sdb", fixture("smartctl-ata-wdc-passed.json"))
    assert report.available and report.passed is True
    assert report.model == "WDC WD140EDFZ-11A0VA0"
    assert (report.reallocated, report.pending) == (0, 0)
    # 32 °C, although the attribute's raw value packs min/max into 163210330144.
    assert report.temperature_c == 32
    assert report.power_on_hours == 1730
    assert smart_problems(report) == []


def test_failing_sata_disk_is_critical_and_its_sectors_are_counted() -> None:
    report = parse_smartctl("/dev/sdc", fixture("smartctl-ata-hitachi-failing.json"))
    assert report.passed is False
    assert (report.reallocated, report.pending) == (1975, 8)
    assert report.power_on_hours == 65592
    problems = {p.key: p for p in smart_problems(report)}
    assert problems["failing"].severity == Severity.CRITICAL
    assert "Hitachi HDS721050DLE630" in problems["failing"].message
    assert problems["sectors"].message.startswith(
        "SMART /dev/sdc (Hitachi HDS721050DLE630): 1975 reallocated, 8 pending sectors"
    )


def test_nvme_disk() -> None:
    report = parse_smartctl("/dev/nvme0", fixture("smartctl-nvme-intel.json"))
    assert report.available and report.passed is True
    assert report.temperature_c == 36
    assert report.power_on_hours == 2401
    assert (report.media_errors, report.critical_warning) == (0, 0)
    assert report.reallocated is None
    assert smart_problems(report) == []


def test_a_disk_without_smart_is_unavailable_not_an_error(tmp_path: Path, small_fs: Path) -> None:
    captured = parse_smartctl("/dev/vda", fixture("smartctl-no-smart-virtio.json"))
    assert not captured.available
    assert captured.message == "/dev/vda: Unable to detect device type"
    # The real smartctl on the loop device under the test filesystem says the same.
    loop = Path("/proc/mounts").read_text().split(f" {small_fs} ")[0].split("\n")[-1]
    live = read_smart(loop)  # the real smartctl, exit status bits and all
    assert not live.available
    assert "Unable to detect device type" in live.message

    def missing_tool(argv: Sequence[str]) -> str:
        raise FileNotFoundError("smartctl")

    assert read_smart("/dev/sda", missing_tool).message == "smartctl not installed"


def test_daemon_reports_a_failing_disk_once_and_in_its_status(
    tmp_path: Path, recordings: Path
) -> None:
    env = make_env(tmp_path, recordings, disk={"smart_devices": ["/dev/sdc", "/dev/vda"]})
    answers = {
        "/dev/sdc": fixture("smartctl-ata-hitachi-failing.json"),
        "/dev/vda": fixture("smartctl-no-smart-virtio.json"),
    }
    calls: list[list[str]] = []

    def smartctl(argv: Sequence[str]) -> str:
        calls.append(list(argv))  # smartctl exits 216 here; its answer is what counts
        return answers[argv[-1]]

    daemon = make_daemon(env, smart_runner=smartctl)
    settle(daemon)
    settle(daemon, start=False)  # an hour later: the next SMART check

    assert len(calls) >= 4, "two devices, checked at least twice"

    assert calls[0] == ["smartctl", "-j", "-H", "-A", "/dev/sdc"]
    failing = events(env.store, "disk_smart_failing")
    assert len(failing) == 1 and failing[0]["severity"] == "critical"
    assert len(events(env.store, "disk_smart_sectors")) == 1
    unavailable = events(env.store, "disk_smart_unavailable")
    assert [e["message"] for e in unavailable] == [
        "SMART unavailable for /dev/vda: /dev/vda: Unable to detect device type"
    ]
    assert "SMART /dev/sdc failing" in daemon.status_line()
    assert daemon.heartbeat_detail()["smart"]["/dev/sdc"]["reallocated"] == 1975
