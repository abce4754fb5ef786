"""The systemd units: they load cleanly and stay hardened.

`systemd-analyze verify` checks that every ExecStart/ExecReload binary exists. The real
units point at /opt/nvr/venv/bin/nvr-* (the installed venv), which a dev box does not
have, so the test builds a throwaway root: the shipped units unchanged in
<root>/etc/systemd/system, systemd's own units copied from the host (sysinit.target and
friends), executable stubs at the ExecStart paths and a copy of /bin/kill; then runs
`systemd-analyze verify --root=<root> <unit>` by name. Any output is a failure: an unknown
key is only a warning to systemd (it is ignored), which is exactly how a typo in a
hardening option goes unnoticed.
"""

from __future__ import annotations

import configparser
import shutil
import subprocess
from pathlib import Path

import pytest

from appliance.box import DAEMONS

pytestmark = pytest.mark.timeout(60)

REPO = Path(__file__).resolve().parents[2]
SYSTEMD_DIR = REPO / "systemd"
UNITS = tuple(f"{d}.service" for d in DAEMONS)
ALL_UNITS = (*UNITS, "nvr.target", "mediamtx.service")
# systemd-analyze security's exposure, 0.0-10.0, is given to --threshold in tenths.
MAX_EXPOSURE = {unit: 2.0 for unit in (*UNITS, "mediamtx.service")}
# smartctl needs raw disks: no PrivateDevices/PrivateUsers, CAP_SYS_RAWIO.
MAX_EXPOSURE["nvr-hddmon.service"] = 3.5
HOST_UNITS = Path("/usr/lib/systemd/system")


def analyze() -> str:
    path = shutil.which("systemd-analyze")
    assert path, "systemd-analyze not found (package systemd)"
    return path


def unit_file(unit: str) -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(strict=False, delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(SYSTEMD_DIR / unit)
    return parser


def exec_paths(unit: str) -> list[str]:
    parser = unit_file(unit)
    if not parser.has_section("Service"):
        return []
    return [
        parser.get("Service", key).split()[0].lstrip("-@+!:")
        for key in ("ExecStartPre", "ExecStart", "ExecReload")
        if parser.has_option("Service", key)
    ]


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A root with the shipped units, the host's systemd units and stub executables."""
    top = tmp_path_factory.mktemp("root")
    shutil.copytree(HOST_UNITS, top / HOST_UNITS.relative_to("/"), symlinks=True)
    units = top / "etc/systemd/system"
    units.mkdir(parents=True)
    for unit in ALL_UNITS:
        shutil.copy(SYSTEMD_DIR / unit, units / unit)
        for exe in exec_paths(unit):
            stub = top / exe.lstrip("/")
            stub.parent.mkdir(parents=True, exist_ok=True)
            if exe == "/bin/kill":
                shutil.copy("/bin/kill", stub)
            else:
                stub.write_text("#!/bin/sh\nexit 0\n")
            stub.chmod(0o755)
    return top


def verify(root: Path, unit: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [analyze(), "verify", f"--root={root}", unit],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.mark.parametrize("unit", ALL_UNITS)
def test_unit_verifies_without_any_message(root: Path, unit: str) -> None:
    done = verify(root, unit)
    assert (done.returncode, done.stdout + done.stderr) == (0, "")


def test_verify_in_this_root_catches_a_typo_and_a_missing_binary(root: Path) -> None:
    # The check above is only worth something if it would fail: a misspelt key and an
    # ExecStart that does not exist must both be reported.
    units = root / "etc/systemd/system"
    text = (SYSTEMD_DIR / "nvr-report.service").read_text()
    (units / "nvr-typo.service").write_text(text.replace("WatchdogSec=", "WatchdogSek="))
    (units / "nvr-nobin.service").write_text(text.replace("nvr-report ", "nvr-missing "))
    try:
        typo, nobin = verify(root, "nvr-typo.service"), verify(root, "nvr-nobin.service")
    finally:
        (units / "nvr-typo.service").unlink()
        (units / "nvr-nobin.service").unlink()
    assert "Unknown key 'WatchdogSek'" in typo.stderr
    assert "/opt/nvr/venv/bin/nvr-missing is not executable" in nobin.stderr


def exposure(unit: str, threshold: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            analyze(),
            "security",
            "--offline=true",
            f"--threshold={round(threshold * 10)}",
            "--no-pager",
            str(SYSTEMD_DIR / unit),
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.mark.parametrize("unit", sorted(MAX_EXPOSURE))
def test_unit_exposure_stays_under_its_limit(unit: str) -> None:
    done = exposure(unit, MAX_EXPOSURE[unit])
    last = (done.stdout + done.stderr).strip().splitlines()[-1]
    assert done.returncode == 0, last
    assert f"Overall exposure level for {unit}:" in last


def test_exposure_threshold_is_enforced() -> None:
    # Proof that the limit bites: no unit is as safe as 0.5.
    done = exposure("nvr-backup.service", 0.5)
    assert done.returncode != 0


@pytest.mark.parametrize("daemon", DAEMONS)
def test_daemon_unit_is_notify_with_watchdog_reload_and_shared_user(daemon: str) -> None:
    service = dict(unit_file(f"{daemon}.service").items("Service"))
    unit = dict(unit_file(f"{daemon}.service").items("Unit"))
    assert service["Type"] == "notify" and service["NotifyAccess"] == "main"
    assert service["WatchdogSec"] == "60s" and service["Restart"] == "always"
    assert service["ExecReload"] == "/bin/kill -HUP $MAINPID"
    assert service["ExecStart"] == f"/opt/nvr/venv/bin/{daemon} --config /etc/nvr/nvr.yaml"
    assert (service["User"], service["Group"], service.get("DynamicUser")) == ("nvr", "nvr", None)
    # /var/log/nvr is root's (syslog-ng writes it): no LogsDirectory= chowning it to nvr.
    assert service["StateDirectory"] == "nvr" and "LogsDirectory" not in service
    assert "StartLimitBurst" in unit and "StartLimitIntervalSec" in unit
    assert unit["PartOf"] == "nvr.target"
    assert dict(unit_file(f"{daemon}.service").items("Install"))["WantedBy"] == "nvr.target"


def test_livestream_starts_before_mediamtx_and_target_pulls_everything() -> None:
    assert "mediamtx.service" in dict(unit_file("nvr-livestream.service").items("Unit"))["Before"]
    wants = (SYSTEMD_DIR / "nvr.target").read_text()
    for unit in (*UNITS, "mediamtx.service"):
        assert unit in wants
