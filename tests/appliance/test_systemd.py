"""The .deb under real systemd: install, start, hardening, logs, reload, watchdog, stop.

One guest for the module (booting, installing and starting cost ~30 s): Debian 12 booted
with systemd-nspawn, `dpkg -i` of the .deb of `make deb`, the example config with two of
the host's simulated cameras and one dead camera (cam09: nothing listens on its port, so
nvr-backup has warnings to log). The tests run in file order and the last ones are the
destructive ones (watchdog, kill, stop).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from appliance.box import DAEMONS, UNITS, Appliance, camera, installed_box
from nvr_camsim import CameraSimulator
from nvr_camsim.mediamtx import free_port
from nvrtest import wait_until

pytestmark = pytest.mark.timeout(300)

# The test shortens nvr-backup's watchdog (a drop-in) so a frozen daemon is caught in
# seconds; the shipped 60 s is what a site runs.
TEST_WATCHDOG_S = 10
# Units whose main process keeps no capability at all (nvr-hddmon keeps CAP_SYS_RAWIO for
# smartctl; mediamtx runs as a DynamicUser).
NO_CAPABILITIES = tuple(d for d in DAEMONS if d != "nvr-hddmon")
# TimeoutStopSec of the nvr units: past it systemd SIGKILLs (Result=timeout).
UNIT_STOP_TIMEOUT_S = 30


@pytest.fixture(scope="module")
def box(
    rootfs: Path,
    deb: Path,
    mediamtx: Path,
    simulator: CameraSimulator,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Appliance]:
    work = tmp_path_factory.mktemp("guest")
    with installed_box(rootfs, deb, mediamtx, work, "nvr-systemd") as box:
        dead = f"rtsp://admin:dead-pw@127.0.0.1:{free_port()}/cam09"
        box.configure(
            [camera(c, simulator.camera_url(c)) for c in ("cam01", "cam02")]
            + [camera("cam09", dead)],
            # Retry the dead camera often: its warnings are what the journal test reads.
            recording={"backoff": {"initial_seconds": 5, "factor": 1.5, "max_seconds": 10}},
        )
        dropin = box.guest.path("/etc/systemd/system/nvr-backup.service.d/test-watchdog.conf")
        dropin.parent.mkdir(parents=True)
        dropin.write_text(f"[Service]\nWatchdogSec={TEST_WATCHDOG_S}s\n")
        box.systemctl("daemon-reload")
        box.systemctl("start", "nvr.target")
        yield box


def proc_status(box: Appliance, pid: int) -> dict[str, str]:
    lines = box.guest.out("cat", f"/proc/{pid}/status").splitlines()
    return {k: v.strip() for k, _, v in (line.partition(":") for line in lines)}


def restarts(box: Appliance, unit: str) -> int:
    return int(box.guest.unit_property(unit, "NRestarts"))


def root_mount_options(box: Appliance, pid: int) -> list[str]:
    """Mount options of / as the process sees it (ProtectSystem=strict makes it ro)."""
    for line in box.guest.out("cat", f"/proc/{pid}/mountinfo").splitlines():
        fields = line.split()
        if fields[4] == "/":
            return fields[5].split(",")
    raise AssertionError(f"no / in the mountinfo of pid {pid}")


def test_every_unit_active_with_its_hardening_in_force(box: Appliance) -> None:
    for unit in UNITS:
        box.guest.wait_unit(unit, "active")
    nvr_uid = box.guest.out("id", "-u", "nvr").strip()
    for unit in UNITS:
        pid = box.main_pid(unit)
        status = proc_status(box, pid)
        assert status["NoNewPrivs"] == "1", unit
        assert status["Seccomp"] == "2", f"{unit}: no seccomp filter in force"
        assert "ro" in root_mount_options(box, pid), f"{unit}: / is writable (ProtectSystem)"
        if unit in DAEMONS:
            assert status["Uid"].split()[0] == nvr_uid, unit
        if unit in NO_CAPABILITIES:
            assert int(status["CapBnd"], 16) == 0, f"{unit}: CapBnd {status['CapBnd']}"
    hddmon = proc_status(box, box.main_pid("nvr-hddmon"))
    cap_sys_rawio = 1 << 17
    assert int(hddmon["CapBnd"], 16) == cap_sys_rawio
    # Nothing in any daemon's journal says the sandbox got in its way. (ffmpeg's "Warning:
    # using insecure memory!" from libgcrypt is the guest's, not the units': a plain
    # `systemd-run -p User=nvr ffmpeg` in the guest prints it too, the host does not.)
    for unit in UNITS:
        journal = box.guest.journal(unit)
        for sign in ("Traceback", "UserWarning", "Permission denied", "Operation not permitted"):
            assert sign not in journal, f"{unit}: {sign}\n{journal}"


def test_recording_under_the_hardened_unit(box: Appliance) -> None:
    """ffmpeg runs under MemoryDenyWriteExecute and the syscall filter of nvr-backup."""
    for cam in ("cam01", "cam02"):
        box.wait_segments(cam, 0)
    recording = box.ffmpeg_pids()
    assert {"cam01", "cam02"} <= recording.keys(), recording
    for cam, pid in recording.items():
        status = proc_status(box, pid)
        assert status["Seccomp"] == "2" and status["NoNewPrivs"] == "1", cam
        # The package's recording-only build records, not Debian's ffmpeg (the unit's
        # NVR_FFMPEG_REC_BIN): the running image, not just the file, is ffmpeg-rec.
        exe = box.guest.out("readlink", f"/proc/{pid}/exe").strip()
        assert exe == "/usr/lib/nvr/ffmpeg-rec", f"{cam} records with {exe}"

    # The validator's checks (ffprobe, OpenCV) run under the same hardening.
    wait_until(
        lambda: (
            box.sql("SELECT count(*) FROM validations WHERE camera = 'cam01' AND status = 'ok'")
            != "0"
        ),
        120,
        f"a passed validation of cam01:\n{box.guest.journal('nvr-validator')}",
    )

    # nvr-health, reached from the host on the shared loopback, says so too.
    def camera_checks() -> dict[str, set[str]]:
        checks: dict[str, set[str]] = {}
        for check in box.health()["checks"]:
            for cam in ("cam01", "cam09"):
                if cam in check["name"]:
                    checks.setdefault(cam, set()).add(check["status"])
        return checks

    wait_until(
        lambda: (
            (c := camera_checks()).get("cam01") == {"ok"} and "ok" not in c.get("cam09", {"ok"})
        ),
        60,
        f"/health: cam01 ok, cam09 not: {box.health()}",
    )


def test_systemctl_status_shows_the_readable_status_line(box: Appliance) -> None:
    wait_until(
        lambda: "recording 2/3 cameras" in box.guest.unit_property("nvr-backup", "StatusText"),
        60,
        "nvr-backup STATUS= says 2 of 3 cameras recording",
    )
    status = box.guest.run("systemctl", "status", "--no-pager", "nvr-backup", check=False)
    assert re.search(r"Status: \"recording 2/3 cameras.*cam09", status.stdout), status.stdout
    assert "dead-pw" not in status.stdout


def test_journal_carries_the_daemons_priorities(box: Appliance) -> None:
    wait_until(
        lambda: "camera=cam09" in box.guest.journal("nvr-backup", "-p", "warning"),
        60,
        "a warning about cam09 in the journal",
    )
    warnings = box.guest.journal("nvr-backup", "-p", "warning")
    assert "camera=cam01 recording" not in warnings  # logged at info
    entries = [
        json.loads(line)
        for line in box.guest.out(
            "journalctl", "--no-pager", "-o", "json", "-u", "nvr-backup"
        ).splitlines()
    ]
    priorities = {e["MESSAGE"]: e["PRIORITY"] for e in entries if isinstance(e["MESSAGE"], str)}
    recording = [p for m, p in priorities.items() if m.endswith("camera=cam01 recording")]
    dead = [p for m, p in priorities.items() if "camera=cam09" in m and "ffmpeg exited" in m]
    assert recording and set(recording) == {"6"}, recording  # info
    assert dead and set(dead) == {"4"}, dead  # warning
    # The prefix (<4>) is consumed by journald, not left in the text; no password either.
    assert not any(m.startswith("<") for m in priorities)
    assert not any("dead-pw" in m for m in priorities)


def test_syslog_ng_writes_one_file_per_daemon(box: Appliance) -> None:
    box.guest.wait_unit("syslog-ng", "active")
    log = box.guest.path("/var/log/nvr/nvr-backup.log")
    wait_until(
        lambda: log.exists() and "<warning>" in log.read_text(),
        60,
        f"syslog-ng wrote nvr-backup's warnings to {log}:\n{box.guest.journal('syslog-ng')}",
    )
    text = log.read_text()
    assert re.search(r"nvr-backup\[\d+\]: <warning> nvr\.backup\.recorder: camera=cam09", text)
    assert re.search(r"nvr-backup\[\d+\]: <info> .*camera=cam01 recording", text)
    assert "dead-pw" not in text
    for daemon in ("nvr-hddmon", "nvr-health"):
        wait_until(box.guest.path(f"/var/log/nvr/{daemon}.log").exists, 30, f"{daemon}.log written")


def test_log_directory_is_root_owned_and_closed_to_nvr(box: Appliance) -> None:
    """Issue 18 item 1: syslog-ng (root) writes there; the nvr uid must not plant files."""
    owner, group, mode = box.guest.out("stat", "-c", "%U %G %a", "/var/log/nvr").split()
    assert (owner, group, mode) == ("root", "adm", "750")
    for attempt in (
        ["touch", "/var/log/nvr/planted"],
        ["ln", "-sf", "/etc/shadow", "/var/log/nvr/nvr-uplink.log"],
        ["rm", "-f", "/var/log/nvr/nvr-backup.log"],
    ):
        result = box.guest.run("runuser", "-u", "nvr", "--", *attempt, check=False)
        assert result.returncode != 0, f"nvr could: {' '.join(attempt)}"
    for daemon in DAEMONS:
        logs_dir = box.guest.unit_property(daemon, "LogsDirectory")
        assert logs_dir == "", f"{daemon}: LogsDirectory={logs_dir} (chowns /var/log/nvr to nvr)"


def test_reload_adds_a_camera_without_touching_the_others(
    box: Appliance, simulator: CameraSimulator
) -> None:
    wait_until(lambda: {"cam01", "cam02"} <= box.ffmpeg_pids().keys(), 60, "both recording")
    before = box.ffmpeg_pids()
    backup_pid = box.main_pid("nvr-backup")
    config = box.guest.path("/etc/nvr/nvr.yaml")
    text = config.read_text()
    data = yaml.safe_load(text)
    data["cameras"].append(camera("cam03", simulator.camera_url("cam03")))
    config.write_text(yaml.safe_dump(data))
    box.systemctl("reload", "nvr-backup")
    box.wait_segments("cam03", 0)
    after = box.ffmpeg_pids()
    assert after["cam01"] == before["cam01"] and after["cam02"] == before["cam02"], (before, after)
    assert box.main_pid("nvr-backup") == backup_pid


def test_watchdog_restarts_a_frozen_daemon(box: Appliance) -> None:
    before = restarts(box, "nvr-backup")
    frozen = box.main_pid("nvr-backup")
    box.systemctl("kill", "--kill-who=main", "-s", "STOP", "nvr-backup")
    wait_until(
        lambda: restarts(box, "nvr-backup") > before,
        TEST_WATCHDOG_S * 6,
        "systemd restarted the frozen nvr-backup",
    )
    box.guest.wait_unit("nvr-backup", "active")
    assert box.main_pid("nvr-backup") != frozen
    assert "watchdog timeout" in box.guest.journal("nvr-backup").lower()
    # Recording resumes by itself.
    now = int(box.sql("SELECT max(end_ms) FROM segments WHERE camera = 'cam01'"))
    wait_until(
        lambda: int(box.sql("SELECT max(end_ms) FROM segments WHERE camera = 'cam01'")) > now,
        90,
        "cam01 recording again after the watchdog restart",
    )


@pytest.mark.parametrize("unit", ["nvr-uplink", "nvr-health"])
def test_sigkill_is_followed_by_a_restart(box: Appliance, unit: str) -> None:
    before = restarts(box, unit)
    killed = box.main_pid(unit)
    box.systemctl("kill", "-s", "KILL", unit)
    wait_until(lambda: restarts(box, unit) > before, 60, f"{unit} restarted after SIGKILL")
    box.guest.wait_unit(unit, "active")
    assert box.main_pid(unit) != killed


def test_stopping_the_target_stops_everything_cleanly(box: Appliance) -> None:
    started = time.monotonic()
    box.systemctl("stop", "nvr.target", timeout=300)
    # The target is ordered after its units (it Wants= them), so on stop it goes first and
    # `systemctl stop nvr.target` can return while they are still deactivating.
    for unit in UNITS:
        box.guest.wait_unit(unit, "inactive", timeout=UNIT_STOP_TIMEOUT_S * 2)
    took = time.monotonic() - started
    for unit in UNITS:
        # "timeout" would mean systemd had to SIGKILL it after TimeoutStopSec.
        assert box.guest.unit_property(unit, "Result") == "success", unit
    assert box.guest.run("pgrep", "-x", "ffmpeg|ffmpeg-rec", check=False).returncode == 1
    assert took < UNIT_STOP_TIMEOUT_S, f"stop took {took:.0f}s"
