"""A Debian 12 virtual machine that can lose power: qemu, its guest agent, a SIGKILL.

The image comes from `packaging/dev/build-vm-image.sh` (cached under ~/.cache/nvr-dev/vm/).
qemu boots the guest's own kernel and initrd directly; the tests talk to the guest only
through qemu-guest-agent on a virtio-serial port (guest-exec, guest-file-*), and reach
nothing but the host's loopback (user-mode networking: 10.0.2.2 in the guest is 127.0.0.1
here). SIGKILL to qemu is the power cut: whatever the guest kernel had not yet handed to
the virtual disk (its page cache, ffmpeg's buffers, an uncommitted transaction) is gone.
See docs/design/powercut.md.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = REPO / "packaging" / "dev" / "build-vm-image.sh"
IMAGE_NAME = "powercut"
# The host as the guest sees it on qemu's user-mode network (its loopback).
HOST_FROM_GUEST = "10.0.2.2"
GUEST_MEMORY_MB = 1024
GUEST_CPUS = 2
AGENT_CHUNK_BYTES = 48 * 1024  # guest-file-write/read payloads, well under qga's limits
EXEC_POLL_S = 0.2


class GuestError(AssertionError):
    """The guest agent refused a command or a command in the guest failed."""


def build_image() -> Path:
    """The cached VM image directory (rootfs.ext4, vmlinuz, initrd.img); built on first use."""
    result = subprocess.run(
        ["bash", str(BUILD_SCRIPT), IMAGE_NAME], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"VM image build failed: {result.stderr[-3000:]}")
    return Path(result.stdout.strip().splitlines()[-1])


def kvm_works() -> bool:
    """True when /dev/kvm can run a stock kernel: the device and vmx/svm in the CPU flags.

    On nested or restricted hosts /dev/kvm may exist without hardware virtualisation
    exposed to us, and qemu then fails (or crawls) with -accel kvm: fall back to TCG.
    """
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return False
    flags = set()
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("flags"):
            flags.update(line.split(":", 1)[1].split())
    return bool(flags & {"vmx", "svm"})


@dataclass(frozen=True)
class ExecResult:
    """What a command run in the guest did."""

    returncode: int
    stdout: str
    stderr: str


class GuestAgent:
    """A client of qemu-guest-agent (QMP-style JSON lines) on qemu's unix socket."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._sock: socket.socket | None = None
        self._buffer = b""

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def connect(self, timeout: float) -> None:
        """Wait until the agent in the guest answers a guest-sync (it starts late in boot)."""
        deadline = time.monotonic() + timeout
        last_error = "no answer"
        while time.monotonic() < deadline:
            try:
                self._sync(min(5.0, max(0.5, deadline - time.monotonic())))
                return
            except (OSError, TimeoutError, ValueError) as err:
                last_error = str(err) or type(err).__name__
                self.close()
                time.sleep(0.5)
        raise TimeoutError(f"guest agent did not answer within {timeout:.0f}s: {last_error}")

    def _sync(self, timeout: float) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        sock.connect(str(self.path))
        self._sock = sock
        self._buffer = b""
        token = int(time.monotonic() * 1000) % 2_000_000_000
        # 0xff makes the agent drop any half-read command left by an earlier client.
        sock.sendall(
            b"\xff"
            + json.dumps({"execute": "guest-sync", "arguments": {"id": token}}).encode()
            + b"\n"
        )
        while True:
            reply = self._read_reply(timeout)
            if reply.get("return") == token:
                return

    def _read_reply(self, timeout: float) -> dict[str, Any]:
        assert self._sock is not None
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("guest agent reply timed out")
            self._sock.settimeout(remaining)
            data = self._sock.recv(65536)
            if not data:
                raise OSError("guest agent connection closed")
            self._buffer += data
        line, self._buffer = self._buffer.split(b"\n", 1)
        line = line.lstrip(b"\xff").strip()
        if not line:
            return self._read_reply(max(0.1, deadline - time.monotonic()))
        reply: dict[str, Any] = json.loads(line)
        return reply

    def command(self, name: str, timeout: float = 30.0, **arguments: Any) -> Any:
        """Run one agent command and return its `return` value."""
        assert self._sock is not None, "guest agent not connected"
        request: dict[str, Any] = {"execute": name}
        if arguments:
            request["arguments"] = arguments
        self._sock.sendall(json.dumps(request).encode() + b"\n")
        reply = self._read_reply(timeout)
        if "error" in reply:
            raise GuestError(f"{name}: {reply['error'].get('desc', reply['error'])}")
        return reply.get("return")

    def execute(
        self, argv: list[str], timeout: float = 120.0, input_data: bytes | None = None
    ) -> ExecResult:
        """Run argv in the guest (no shell), wait for it, return its exit code and output."""
        arguments: dict[str, Any] = {"path": argv[0], "arg": argv[1:], "capture-output": True}
        if input_data is not None:
            arguments["input-data"] = base64.b64encode(input_data).decode()
        pid = self.command("guest-exec", **arguments)["pid"]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.command("guest-exec-status", pid=pid)
            if status.get("exited"):
                return ExecResult(
                    int(status.get("exitcode", -1)),
                    _decode(status.get("out-data")),
                    _decode(status.get("err-data")),
                )
            time.sleep(EXEC_POLL_S)
        raise TimeoutError(f"guest command {argv[:3]} still running after {timeout:.0f}s")

    def run(self, argv: list[str], timeout: float = 120.0) -> str:
        """Run argv in the guest; fail with its stderr unless it exits 0. Returns stdout."""
        result = self.execute(argv, timeout)
        if result.returncode != 0:
            raise GuestError(
                f"guest command {argv} exited {result.returncode}: {result.stderr[-2000:]}"
                f" {result.stdout[-1000:]}"
            )
        return result.stdout

    def write_file(self, path: str, data: bytes, mode: str = "w") -> None:
        """Write a file in the guest through guest-file-open/write/close."""
        handle = self.command("guest-file-open", path=path, mode=mode)
        try:
            for offset in range(0, len(data), AGENT_CHUNK_BYTES) or [0]:
                chunk = data[offset : offset + AGENT_CHUNK_BYTES]
                self.command(
                    "guest-file-write",
                    handle=handle,
                    **{"buf-b64": base64.b64encode(chunk).decode()},
                )
        finally:
            self.command("guest-file-close", handle=handle)

    def read_file(self, path: str) -> bytes:
        """Read a whole file from the guest through guest-file-open/read/close."""
        handle = self.command("guest-file-open", path=path, mode="r")
        data = b""
        try:
            while True:
                reply = self.command("guest-file-read", handle=handle, count=AGENT_CHUNK_BYTES)
                data += base64.b64decode(reply.get("buf-b64", ""))
                if reply.get("eof"):
                    return data
        finally:
            self.command("guest-file-close", handle=handle)


def _decode(data: str | None) -> str:
    return base64.b64decode(data).decode(errors="replace") if data else ""


class VirtualMachine:
    """One qemu process booting the image copy `disk`; `power_cut()` is SIGKILL to qemu."""

    def __init__(self, image_dir: Path, disk: Path, run_dir: Path) -> None:
        self.image_dir = image_dir
        self.disk = disk
        self.run_dir = run_dir
        self.kvm = kvm_works()
        self.proc: subprocess.Popen[bytes] | None = None
        self.agent = GuestAgent(run_dir / "qga.sock")
        self.boots = 0
        self.powered_on_at = 0.0

    @classmethod
    def fresh(
        cls, image_dir: Path, run_dir: Path, disk_source: Path | None = None
    ) -> VirtualMachine:
        """A VM on a private copy of `disk_source` (default: the image's pristine root
        filesystem); the copy is sparse, the cached original is never written."""
        run_dir.mkdir(parents=True, exist_ok=True)
        disk = run_dir / "disk.img"
        source = disk_source or image_dir / "rootfs.ext4"
        subprocess.run(["cp", "--sparse=always", str(source), str(disk)], check=True)
        return cls(image_dir, disk, run_dir)

    def argv(self) -> list[str]:
        accel = "kvm" if self.kvm else "tcg,thread=multi"
        return [
            shutil.which("qemu-system-x86_64") or "qemu-system-x86_64",
            "-nodefaults",
            "-no-user-config",
            "-display", "none",
            "-machine", "q35",
            "-accel", accel,
            "-cpu", "host" if self.kvm else "max",
            "-m", str(GUEST_MEMORY_MB),
            "-smp", str(GUEST_CPUS),
            "-rtc", "base=utc,clock=host",
            "-kernel", str(self.image_dir / "vmlinuz"),
            "-initrd", str(self.image_dir / "initrd.img"),
            "-append", "root=/dev/vda rw console=ttyS0 quiet systemd.show_status=0",
            "-drive", f"file={self.disk},format=raw,if=virtio",
            "-netdev", "user,id=net0",
            "-device", "virtio-net-pci,netdev=net0",
            "-device", "virtio-serial-pci",
            "-chardev", f"socket,id=qga0,path={self.agent.path},server=on,wait=off",
            "-device", "virtserialport,chardev=qga0,name=org.qemu.guest_agent.0",
            "-serial", f"file:{self.run_dir / f'console-{self.boots + 1}.log'}",
        ]  # fmt: skip

    def power_on(self, boot_timeout: float = 300.0) -> float:
        """Start qemu and wait for the guest agent; returns the seconds the boot took."""
        assert self.proc is None or self.proc.poll() is not None, "VM already running"
        self.agent.close()
        self.agent.path.unlink(missing_ok=True)
        self.powered_on_at = time.time()
        with (self.run_dir / "qemu.log").open("ab") as log:
            self.proc = subprocess.Popen(
                self.argv(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        self.boots += 1
        started = time.monotonic()
        deadline = started + boot_timeout
        while not self.agent.path.exists():
            self._check_alive()
            if time.monotonic() > deadline:
                raise TimeoutError("qemu did not create its agent socket")
            time.sleep(0.1)
        self.agent.connect(boot_timeout - (time.monotonic() - started))
        return time.monotonic() - started

    def _check_alive(self) -> None:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise RuntimeError(f"qemu exited {self.proc.returncode}: {self.qemu_log()[-2000:]}")

    def qemu_log(self) -> str:
        path = self.run_dir / "qemu.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def console(self) -> str:
        path = self.run_dir / f"console-{self.boots}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def power_cut(self) -> None:
        """SIGKILL qemu: the guest gets no chance to flush or stop anything."""
        assert self.proc is not None
        self.agent.close()
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def shutdown(self, timeout: float = 120.0) -> None:
        """A clean poweroff through the agent; SIGKILL if the guest does not stop in time."""
        if self.proc is None or self.proc.poll() is not None:
            return
        # The guest may drop the connection as it goes down.
        with contextlib.suppress(OSError, GuestError, TimeoutError):
            self.agent.command("guest-shutdown", mode="powerdown")
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.power_cut()
        self.agent.close()
