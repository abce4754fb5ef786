"""The power-cut rig shared by tests/appliance/test_powercut.py and tests/bench/bench_powercut.py.

On the host: two simulated cameras (nvr_camsim: ffmpeg publishing H.264 to a mediamtx) and
the reference head office (`nvr-headoffice`). In a qemu VM (tests/appliance/powercut_vm.py):
Debian 12 with the nvr .deb from `make deb` installed by `dpkg -i` and run by the guest's
systemd, recording both cameras over RTSP/TCP and reporting to head office, both reached
at 10.0.2.2 (the host's loopback through qemu's user-mode network).

A round: snapshot the index (every `ok` segment with its SHA-256), wait a random time,
SIGKILL qemu, power on again, wait until every camera records again, then check what the
box says against the snapshot (tests/appliance/powercut_guest.py runs inside the guest).
See docs/design/powercut.md.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import re
import shutil
import subprocess
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from nvr.core.tables.recordings import EndReason
from nvr_camsim import CameraSimulator
from nvrtest import SIM_BITRATE, SIM_HEIGHT, SIM_WIDTH
from nvrtest.headoffice import SECRET, SITE, HeadOffice, write_sites

from .box import build_deb
from .powercut_vm import HOST_FROM_GUEST, VirtualMachine, build_image

CAMERAS = ("cam01", "cam02")
SEGMENT_SECONDS = 10
STATE_DB = "/var/lib/nvr/state.db"
RECORDINGS = "/srv/nvr/recordings"
GUEST_CHECK = "/root/powercut_guest.py"
GUEST_PYTHON = "/opt/nvr/venv/bin/python"
# Units of the .deb this rig does not need: they would only compete for an emulated CPU
# (the validator decodes video; live view needs mediamtx, which the .deb does not ship).
MASKED_UNITS = (
    "nvr-validator.service",
    "nvr-livestream.service",
    "nvr-health.service",
    "mediamtx.service",
)
RECORDING_TIMEOUT_S = 240.0
DRAIN_TIMEOUT_S = 180.0
log = logging.getLogger(__name__)
SEGMENT_NAME = re.compile(r"^[^/]+/(\d{4}-\d{2}-\d{2})/(\d{2})-(\d{2})-(\d{2})")


@dataclass
class Round:
    """What one power cut did, as the box reports it after the next boot."""

    number: int
    cut_after_s: float
    boot_s: float
    gap_s: float  # power-on to every camera recording again (first new segment's start)
    indexed_segments_lost: int
    unplayable_unquarantined: int
    db_corrupt: bool
    cut_gap_reasons: dict[str, str | None]
    # Video before the cut that is not in the index after the boot: from the end of the
    # last segment the box kept (recovered partial ones included) to the cut, worst camera.
    video_lost_s: float = 0.0
    boundary: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


@dataclass
class Reports:
    """Head office's view of the site's report seqs after the last boot drained the outbox."""

    guest_last_seq: int | None
    received: int
    first_seq: int | None
    last_seq: int | None
    missing: int
    seq_reused: int
    duplicates_deduped: int


def deb_content_key(deb: Path) -> str:
    """A hash of what the .deb installs and runs, blind to build timestamps.

    Wheels are zip files whose entries carry the build's mtimes: hash their entries' names
    and contents instead of their bytes. Documentation does not run: a changed design
    note keeps the cached install.
    """
    digest = hashlib.sha256()
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["dpkg-deb", "-R", str(deb), tmp], check=True)
        docs = Path(tmp) / "usr" / "share" / "doc"
        for path in sorted(p for p in Path(tmp).rglob("*") if p.is_file()):
            # md5sums and Installed-Size only restate the files, documentation included.
            if path.is_relative_to(docs) or path.name == "md5sums":
                continue
            digest.update(str(path.relative_to(tmp)).encode())
            if path.name == "control":
                lines = path.read_text().splitlines()
                digest.update("\n".join(x for x in lines if "Installed-Size" not in x).encode())
            elif path.suffix == ".whl":
                with zipfile.ZipFile(path) as wheel:
                    for entry in sorted(wheel.namelist()):
                        digest.update(entry.encode() + wheel.read(entry))
            else:
                digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def put_file(disk: Path, source: Path, dest_dir: str, name: str) -> None:
    """Copy a host file into the (not running) guest's ext4 image, no mount needed."""
    commands = f"cd {dest_dir}\nwrite {source} {name}\n"
    result = subprocess.run(
        ["debugfs", "-w", "-f", "-", str(disk)],
        input=commands,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0 or "rror" in result.stderr.replace("debugfs ", ""):
        raise RuntimeError(f"debugfs write {name}: {result.stderr[-2000:]}")


def guest_config(sim: CameraSimulator, headoffice_port: int) -> dict[str, Any]:
    """The box's nvr.yaml: both cameras and head office through the host's loopback."""
    return {
        "site": {"id": SITE, "name": "Power cut rig"},
        "storage": {"require_mount": False},
        "recording": {
            "segment_seconds": SEGMENT_SECONDS,
            # Under emulation a start can be slow; retry quickly rather than wait 30 s.
            "backoff": {"initial_seconds": 2, "max_seconds": 10},
            "stall_seconds": 60,
        },
        "report": {"status_interval_minutes": 1, "event_coalesce_seconds": 0},
        "uplink": {
            "head_office": {
                "url": f"http://{HOST_FROM_GUEST}:{headoffice_port}/api/nvr/reports",
                "secret_file": "/etc/nvr/headoffice.key",
            },
            "retry_initial_seconds": 0.5,
            "retry_max_seconds": 5,
        },
        "cameras": [
            {
                "id": camera,
                "name": camera,
                "url": sim.camera_url(camera).replace("127.0.0.1", HOST_FROM_GUEST),
            }
            for camera in CAMERAS
        ],
    }


def name_time_ms(relative: str) -> int | None:
    """UTC milliseconds from a segment's relative path (<camera>/<day>/<HH-MM-SS>.<ext>)."""
    match = SEGMENT_NAME.match(relative)
    if match is None:
        return None
    day, hours, minutes, seconds = match.groups()
    stamp = datetime.fromisoformat(f"{day}T{hours}:{minutes}:{seconds}+00:00")
    return int(stamp.astimezone(UTC).timestamp() * 1000)


class PowercutRig:
    """Cameras and head office on the host, the appliance in a VM that loses power."""

    def __init__(self, root: Path, seed: int) -> None:
        self.root = root
        self.rng = random.Random(seed)
        self.seed = seed
        self.sim: CameraSimulator | None = None
        self.headoffice: HeadOffice | None = None
        self.vm: VirtualMachine | None = None
        self.clock_offset_ms = 0  # guest clock minus host clock, measured each boot
        self.install_s = 0.0  # 0 when the installed image came from the cache
        self.first_boot_s = 0.0
        self._snapshot: dict[str, Any] = {}
        self._since_ms = 0

    # -- set-up ----------------------------------------------------------------------------
    def __enter__(self) -> PowercutRig:
        try:
            self._set_up()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _set_up(self) -> None:
        started = time.monotonic()
        image = build_image()
        deb = build_deb(self.root / "dist")
        log.info("VM image and .deb ready after %.1f s", time.monotonic() - started)
        installed = self._installed_image(image, deb)
        self.sim = CameraSimulator(
            self.root / "camsim",
            list(CAMERAS),
            width=SIM_WIDTH,
            height=SIM_HEIGHT,
            bitrate=SIM_BITRATE,
        )
        self.sim.start()
        self.headoffice = HeadOffice(self.root, write_sites(self.root))
        self.vm = VirtualMachine.fresh(image, self.root / "vm", installed)
        self.first_boot_s = self.vm.power_on()
        log.info("first boot %.1f s (kvm: %s)", self.first_boot_s, self.vm.kvm)
        self._measure_clock()
        self._configure()
        log.info("set-up %.1f s", time.monotonic() - started)

    def _installed_image(self, image: Path, deb: Path) -> Path:
        """The image with this .deb installed by `dpkg -i` in the guest, cached by content.

        Installing under TCG takes minutes (pip builds the venv from the wheels on an
        emulated CPU), so the installed disk is kept beside the image, keyed by what the
        .deb contains; a changed product installs again. nvr.target is left disabled in
        the cached disk: it must not start with the example config before ours is written.
        """
        cached = image / f"installed-{deb_content_key(deb)}.ext4"
        if cached.exists():
            log.info("installed image from cache: %s", cached.name)
            return cached
        vm = VirtualMachine.fresh(image, self.root / "install")
        put_file(vm.disk, deb, "/root", "nvr.deb")
        try:
            vm.power_on()
            started = time.monotonic()
            vm.agent.run(["/usr/bin/dpkg", "-i", "/root/nvr.deb"], timeout=900)
            self.install_s = time.monotonic() - started
            log.info("dpkg -i in the guest took %.1f s", self.install_s)
            vm.agent.run(["/bin/rm", "/root/nvr.deb"])
            vm.agent.run(["/bin/systemctl", "disable", "nvr.target"])
            vm.shutdown()
        finally:
            if vm.proc is not None and vm.proc.poll() is None:
                vm.power_cut()
        for old in image.glob("installed-*.ext4"):
            old.unlink()  # an older product's install: dead weight of a few hundred MB
        partial = cached.with_name(f"{cached.name}.{os.getpid()}.tmp")
        shutil.move(vm.disk, partial)
        partial.replace(cached)
        return cached

    def _configure(self) -> None:
        """Write the box's config, then enable and start nvr.target as a technician would."""
        assert self.vm is not None and self.sim is not None and self.headoffice is not None
        agent = self.vm.agent
        agent.write_file(GUEST_CHECK, Path(__file__).with_name("powercut_guest.py").read_bytes())
        config = yaml.safe_dump(guest_config(self.sim, self.headoffice.port))
        agent.write_file("/etc/nvr/nvr.yaml", config.encode())
        agent.write_file("/etc/nvr/headoffice.key", (SECRET + "\n").encode())
        agent.run(["/bin/chgrp", "nvr", "/etc/nvr/headoffice.key"])
        agent.run(["/bin/chmod", "0640", "/etc/nvr/headoffice.key"])
        agent.run(["/bin/systemctl", "mask", *MASKED_UNITS])
        # Enabled: after every power-on the box records by itself.
        agent.run(["/bin/systemctl", "enable", "--now", "--no-block", "nvr.target"])
        agent.run(["/bin/sync"])

    def close(self) -> None:
        if self.vm is not None and self.vm.proc is not None and self.vm.proc.poll() is None:
            self.vm.power_cut()
        if self.headoffice is not None and self.headoffice.proc is not None:
            self.headoffice.stop()
        if self.sim is not None:
            self.sim.stop()

    # -- measuring -------------------------------------------------------------------------
    def _measure_clock(self) -> None:
        """Guest clock minus host clock (the RTC seeds it to the second; TCG may drift)."""
        assert self.vm is not None
        before = time.time_ns()
        guest_ns = int(self.vm.agent.command("guest-get-time"))
        after = time.time_ns()
        self.clock_offset_ms = (guest_ns - (before + after) // 2) // 1_000_000

    def guest_ms(self, host_s: float) -> int:
        """A host time as the guest's clock would write it."""
        return int(host_s * 1000) + self.clock_offset_ms

    def check(self, since_ms: int) -> dict[str, Any]:
        """Run powercut_guest.py in the guest: the box's own account of itself."""
        assert self.vm is not None
        started = time.monotonic()
        out = self.vm.agent.run(
            [GUEST_PYTHON, GUEST_CHECK, STATE_DB, RECORDINGS, str(since_ms)], timeout=300
        )
        result: dict[str, Any] = json.loads(out)
        log.info("guest check took %.1f s", time.monotonic() - started)
        return result

    def wait_recording(self, since_ms: int, timeout: float = RECORDING_TIMEOUT_S) -> dict[str, int]:
        """Wait until every camera has a segment starting at or after since_ms (guest clock)."""
        assert self.vm is not None
        query = (
            "SELECT camera, min(start_ms) FROM segments WHERE start_ms >= "
            f"{since_ms} GROUP BY camera"
        )
        deadline = time.monotonic() + timeout
        firsts: dict[str, int] = {}
        while time.monotonic() < deadline:
            result = self.vm.agent.execute(["/usr/bin/sqlite3", "-readonly", STATE_DB, query])
            if result.returncode == 0:
                firsts = {
                    line.split("|")[0]: int(line.split("|")[1])
                    for line in result.stdout.split()
                    if "|" in line
                }
                if set(CAMERAS) <= firsts.keys():
                    log.info("recording: %s", firsts)
                    return firsts
            time.sleep(2)
        raise AssertionError(
            f"cameras not recording {timeout:.0f}s after power-on (have {firsts});"
            f" guest journal: {self.journal()}"
        )

    def journal(self) -> str:
        """The guest's nvr unit logs since boot, for failure messages."""
        assert self.vm is not None
        try:
            result = self.vm.agent.execute(
                ["/bin/journalctl", "-b", "-u", "nvr-*", "--no-pager", "-n", "60"], timeout=60
            )
        except (OSError, TimeoutError, AssertionError) as err:
            return f"(journal unavailable: {err})"
        return result.stdout[-6000:]

    # -- the rounds ------------------------------------------------------------------------
    def start_recording(self) -> None:
        """After set-up: wait until both cameras record and take the first snapshot."""
        assert self.vm is not None
        firsts = self.wait_recording(self.guest_ms(self.vm.powered_on_at))
        self._since_ms = max(firsts.values())
        self._snapshot = self.check(self._since_ms)

    def cut_round(self, number: int, min_s: float, max_s: float) -> Round:
        """Cut power at a random moment, boot, wait for recording, and judge the box."""
        assert self.vm is not None
        cut_after = self.rng.uniform(min_s, max_s)
        time.sleep(cut_after)
        # The cut on the clock of the boot that dies (each boot reads the RTC to the second).
        self._measure_clock()
        cut_ms = self.guest_ms(time.time())
        self.vm.power_cut()
        log.info("round %d: power cut after %.1f s", number, cut_after)
        boot_s = self.vm.power_on()
        log.info("round %d: booted in %.1f s", number, boot_s)
        self._measure_clock()
        power_on_ms = self.guest_ms(self.vm.powered_on_at)
        firsts = self.wait_recording(power_on_ms)
        after = self.check(self._since_ms)
        round_ = judge(number, self._snapshot, after, cut_ms, power_on_ms)
        round_.cut_after_s = round(cut_after, 1)
        round_.boot_s = round(boot_s, 1)
        round_.gap_s = round((max(firsts.values()) - power_on_ms) / 1000, 1)
        # The next round compares with this check and looks from this boot's recording on.
        self._snapshot, self._since_ms = after, max(firsts.values())
        return round_

    def nvrctl_coverage(self, camera: str, since: str) -> str:
        """`nvrctl coverage` in the guest, as a technician on the box would run it."""
        assert self.vm is not None
        return self.vm.agent.run(
            ["/opt/nvr/venv/bin/nvrctl", "coverage", "--config", "/etc/nvr/nvr.yaml",
             "--camera", camera, f"--from={since}", "--to=now"],
        )  # fmt: skip

    def drain_reports(self) -> Reports:
        """Wait until head office holds the guest's last seq, then read its seq accounting."""
        assert self.vm is not None and self.headoffice is not None
        deadline = time.monotonic() + DRAIN_TIMEOUT_S
        summary: dict[str, Any] = {}
        guest_last: int | None = None
        while time.monotonic() < deadline:
            guest_last = self.check(int(time.time() * 1000))["last_seq"]
            summary = self.headoffice.site(SITE)
            if guest_last is not None and summary.get("last_seq") == guest_last:
                break
            time.sleep(5)
        return Reports(
            guest_last_seq=guest_last,
            received=int(summary.get("reports", 0)),
            first_seq=summary.get("first_seq"),
            last_seq=summary.get("last_seq"),
            missing=int(summary.get("missing", 0))
            - int(summary.get("announced_dropped", 0))
            + max(0, (guest_last or 0) - int(summary.get("last_seq") or 0)),
            seq_reused=int(summary.get("seq_reused", 0)),
            duplicates_deduped=int(summary.get("duplicates", 0)),
        )


def kept_until(after: dict[str, Any], cut_ms: int) -> dict[str, int]:
    """Per camera, where the run the cut ended now ends: its last segment kept in the index."""
    ends: dict[str, int] = {}
    for camera, _started, ended, _reason in after["runs"]:
        if ended is not None and ended <= cut_ms + 5000:
            ends[camera] = max(ends.get(camera, ended), ended)
    return ends


def around_cut(gaps: list[dict[str, Any]], runs: list[list[Any]], camera: str, cut_ms: int) -> str:
    """The camera's gaps and runs near the cut, in seconds from it, for a failure message."""

    def at(ms: int | None) -> str:
        return "open" if ms is None else f"{(ms - cut_ms) / 1000:+.1f}"

    near = 120_000
    parts = [
        f"gap {at(g['from_ms'])}..{at(g['to_ms'])} {g['reason']!r}"
        for g in gaps
        if abs(g["from_ms"] - cut_ms) < near or abs(g["to_ms"] - cut_ms) < near
    ]
    parts += [
        f"run {at(started)}..{at(ended)} {reason!r}"
        for cam, started, ended, reason in runs
        if cam == camera and abs((ended or started) - cut_ms) < near
    ]
    return "; ".join(parts)


def judge(
    number: int, before: dict[str, Any], after: dict[str, Any], cut_ms: int, power_on_ms: int
) -> Round:
    """Compare the box after the boot with the snapshot taken before the cut."""
    problems: list[str] = []
    segments = after["segments"]
    now_ok = segments["ok_sha256"]
    lost = [
        path for path, sha in before["segments"]["ok_sha256"].items() if now_ok.get(path) != sha
    ]
    lost += [bad["path"] for bad in segments["ok_bad"] if bad["path"] not in lost]
    # Rows indexed after the snapshot whose file the boot's reconcile found gone.
    newly_missing = set(segments["missing"]) - set(before["segments"]["missing"])
    lost += sorted(newly_missing - set(lost))
    problems += [f"indexed segment lost or altered: {path}" for path in lost]
    # Files no row names, older than this boot: the reconcile should have indexed them.
    # Dated files by their name; staged ones (no time in the name) by their last write.
    silent = [
        path
        for path, mtime_ms in segments["unindexed_files"].items()
        if (name_time_ms(path) or mtime_ms) < power_on_ms - 2000
    ]
    unplayable = [b["path"] for b in after["boundary"] if b["status"] == "ok" and not b["playable"]]
    problems += [f"file on disk but not indexed: {path}" for path in silent]
    problems += [f"indexed as ok but not playable: {path}" for path in unplayable]
    corrupt = after["integrity"] != "ok"
    if corrupt:
        problems.append(f"integrity_check: {after['integrity']}")
    reasons: dict[str, str | None] = {}
    for camera, gaps in after["gaps"].items():
        spanning = [g for g in gaps if g["from_ms"] - 5000 <= cut_ms <= g["to_ms"] + 5000]
        reasons[camera] = spanning[0]["reason"] if spanning else None
        if reasons[camera] != str(EndReason.POWER_LOSS):
            problems.append(
                f"{camera}: gap over the cut has reason {reasons[camera]!r}"
                f" (seconds from the cut: {around_cut(gaps, after['runs'], camera, cut_ms)})"
            )
    video_lost_ms = max((cut_ms - end for end in kept_until(after, cut_ms).values()), default=0)
    return Round(
        video_lost_s=round(max(0, video_lost_ms) / 1000, 1),
        number=number,
        cut_after_s=0.0,
        boot_s=0.0,
        gap_s=0.0,
        indexed_segments_lost=len(lost),
        unplayable_unquarantined=len(silent) + len(unplayable),
        db_corrupt=corrupt,
        cut_gap_reasons=reasons,
        boundary=after["boundary"],
        problems=problems,
    )
