"""A Debian 12 guest booted with systemd-nspawn: real systemd as PID 1, the host's network.

The tree comes from packaging/dev/build-rootfs.sh (cached, read-only by convention); each
guest boots it through an overlayfs whose upper layer lives in the test's temp dir, so a
guest starts from a clean tree in a second and leaves the cache untouched. Commands run
inside with nsenter into the guest's namespaces (no machined on a host that does not run
systemd itself). The guest shares the host's network namespace, so it reaches the camera
simulator on 127.0.0.1 and the host reaches the guest's /health the same way: every port
the guest listens on must be a free one (see `free_port`).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Self

from nvrtest import wait_until

REPO = Path(__file__).resolve().parents[2]
BUILD_ROOTFS = REPO / "packaging" / "dev" / "build-rootfs.sh"
BOOT_TIMEOUT_S = 120.0
POWEROFF_TIMEOUT_S = 90.0


def tool(name: str, package: str) -> str:
    path = shutil.which(name)
    assert path, f"{name} not found (Debian package {package}; run `make apt`)"
    return path


def build_rootfs(name: str) -> Path:
    """The cached tree of packaging/dev/rootfs/<name>.list, built on first use."""
    result = subprocess.run(
        ["bash", str(BUILD_ROOTFS), name], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, f"build-rootfs.sh {name} failed:\n{result.stderr}"
    return Path(result.stdout.strip().splitlines()[-1])


class Guest:
    """One booted container; use as a context manager (boot, then power off and unmount)."""

    def __init__(self, rootfs: Path, work: Path, name: str) -> None:
        self.rootfs = rootfs
        self.work = work
        self.name = name
        self.root = work / "merged"
        self.console_log = work / "console.log"
        self._proc: subprocess.Popen[bytes] | None = None
        self._mounted = False

    def __enter__(self) -> Self:
        try:
            self.boot()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- lifecycle ---------------------------------------------------------------------

    def boot(self) -> None:
        """Mount the overlay, start systemd-nspawn and wait until systemd says running."""
        for sub in ("upper", "work", "merged"):
            (self.work / sub).mkdir(parents=True, exist_ok=True)
        options = (
            f"lowerdir={self.rootfs},upperdir={self.work / 'upper'},workdir={self.work / 'work'}"
        )
        subprocess.run(
            [tool("mount", "mount"), "-t", "overlay", "overlay", "-o", options, str(self.root)],
            check=True,
        )
        self._mounted = True
        argv = [
            tool("systemd-nspawn", "systemd-container"),
            f"--directory={self.root}",
            f"--machine={self.name}",
            "--boot",
            # The host runs no systemd (no bus, no machined): nspawn must neither register
            # the machine nor ask for a scope unit.
            "--register=no",
            "--keep-unit",
            "--link-journal=no",
            "--resolv-conf=off",
            "--timezone=off",
            "--console=read-only",
            # Not in nspawn's default set, but a real box has it: nvr-hddmon keeps it for
            # smartctl, and its unit is tested with it.
            "--capability=CAP_SYS_RAWIO",
        ]
        with open(self.console_log, "wb") as console:
            self._proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=console, stderr=subprocess.STDOUT
            )
        wait_until(self._booted, BOOT_TIMEOUT_S, f"guest {self.name} booted:\n{self.console()}")

    def _booted(self) -> bool:
        assert self._proc is not None
        assert self._proc.poll() is None, f"systemd-nspawn exited:\n{self.console()}"
        if self.leader() is None:
            return False
        state = self.run("systemctl", "is-system-running", check=False).stdout.strip()
        return state in ("running", "degraded")

    def leader(self) -> int | None:
        """The pid (on the host) of the guest's systemd, once nspawn has forked it."""
        assert self._proc is not None
        children = Path(f"/proc/{self._proc.pid}/task/{self._proc.pid}/children")
        try:
            pids = children.read_text().split()
        except OSError:
            return None
        return int(pids[0]) if pids else None

    def close(self) -> None:
        """Power the guest off (nspawn turns SIGTERM into a clean shutdown), then unmount."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
            try:
                self._proc.wait(POWEROFF_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        if self._mounted:
            subprocess.run([tool("umount", "mount"), str(self.root)], check=False)
            self._mounted = False

    def console(self) -> str:
        try:
            return self.console_log.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    # -- inside the guest ----------------------------------------------------------------

    def run(
        self, *argv: str, check: bool = True, timeout: float = 120.0, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run a command in the guest as root, in all of its namespaces."""
        leader = self.leader()
        assert leader is not None, f"guest {self.name} is not running:\n{self.console()}"
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8", "SYSTEMD_PAGER": ""}
        result = subprocess.run(
            [tool("nsenter", "util-linux"), "-t", str(leader), "-a", "--", *argv],
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
            input=input,
            env=env,
        )
        if check:
            command = " ".join(argv)
            assert result.returncode == 0, (
                f"in guest: {command} -> {result.returncode}\n{result.stdout}\n{result.stderr}"
            )
        return result

    def out(self, *argv: str, timeout: float = 120.0) -> str:
        return self.run(*argv, timeout=timeout).stdout

    def path(self, guest_path: str) -> Path:
        """Where a guest path is seen from the host (through the overlay)."""
        return self.root / guest_path.lstrip("/")

    def install_file(self, source: Path, guest_path: str, mode: int = 0o644) -> None:
        target = self.path(guest_path)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        os.chmod(target, mode)

    def unit_property(self, unit: str, prop: str) -> str:
        return self.out("systemctl", "show", "-P", prop, unit).strip()

    def wait_unit(self, unit: str, state: str, timeout: float = 90.0) -> None:
        wait_until(
            lambda: self.unit_property(unit, "ActiveState") == state,
            timeout,
            f"{unit} {state} in the guest:\n{self.journal(unit)}",
        )

    def journal(self, unit: str, *extra: str) -> str:
        return self.run(
            "journalctl", "--no-pager", "-o", "cat", "-u", unit, *extra, check=False
        ).stdout[-6000:]

    def wait(self, predicate_argv: list[str], timeout: float, what: str) -> None:
        """Wait until a guest command succeeds."""
        wait_until(lambda: self.run(*predicate_argv, check=False).returncode == 0, timeout, what)
