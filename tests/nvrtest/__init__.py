"""Helpers shared by the test packages: the systemd notify socket and polling.

Importable as `nvrtest` because tests/ (which holds the root conftest.py) is on sys.path.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ParamSpec, Protocol, Self, TypeVar

from nvr.core.process import child_environment, stop_process
from nvr_camsim.mediamtx import MediamtxServer

# The shared simulator's pictures: small, so the suite stays quick on two cores.
SIM_WIDTH, SIM_HEIGHT, SIM_BITRATE = 640, 360, 800_000


class NotifySocket:
    """The systemd side of sd_notify: a datagram socket collecting every message."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.messages: list[str] = []
        self.arrivals: list[float] = []
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind(str(path))
        self._sock.settimeout(0.1)
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._receive, daemon=True)
        self._thread.start()

    def _receive(self) -> None:
        while not self._closed.is_set():
            try:
                data = self._sock.recv(4096)
            except TimeoutError:
                continue
            self.arrivals.append(time.monotonic())
            self.messages.append(data.decode("latin-1"))

    def close(self) -> None:
        self._closed.set()
        self._thread.join()
        self._sock.close()

    def texts(self) -> list[str]:
        return list(self.messages)

    def has(self, text: str) -> bool:
        """True when any message contains `text`."""
        return any(text in message for message in self.texts())

    def status(self, text: str) -> bool:
        """True when any STATUS message contains `text`."""
        return any(text in m for m in self.texts() if "STATUS=" in m)

    def wait_for(self, predicate: Callable[[str], bool], timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for text in self.texts():
                if predicate(text):
                    return text
            time.sleep(0.02)
        raise AssertionError(f"no matching notify message; got {self.texts()[-8:]}")

    def count_since(self, since: float, text: str) -> int:
        pairs = list(zip(self.arrivals, self.messages, strict=False))
        return sum(1 for t, m in pairs if t >= since and m == text)


class _Closable(Protocol):
    def close(self) -> None: ...


_P = ParamSpec("_P")
_C = TypeVar("_C", bound=_Closable)


def closing_factory(make: Callable[_P, _C]) -> Iterator[Callable[_P, _C]]:
    """For a fixture: `make` as the test's factory; all it made is closed at the end."""
    made: list[_C] = []

    def factory(*args: _P.args, **kwargs: _P.kwargs) -> _C:
        made.append(make(*args, **kwargs))
        return made[-1]

    yield factory
    for thing in made:
        thing.close()


def base_config(tmp_path: Path, **overrides: Any) -> dict[str, Any]:
    """A valid config dict rooted in tmp_path; sections in `overrides` replace defaults."""
    data: dict[str, Any] = {
        "site": {"id": "test-01", "name": "Test site"},
        "storage": {
            "recordings_dir": str(tmp_path / "recordings"),
            "state_file": str(tmp_path / "state" / "state.db"),
        },
        "cameras": [
            {"id": "cam01", "name": "Gate", "url": "rtsp://admin:s3cr3t-pw@127.0.0.1:8554/cam01"}
        ],
    }
    data.update(overrides)
    (tmp_path / "recordings").mkdir(exist_ok=True)
    (tmp_path / "state").mkdir(exist_ok=True)
    return data


def query_state(state_file: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    """Rows of a read-only query, or [] while the daemons have not created the file or schema.

    Tests poll the state file while the daemons start: on a busy box the first query can
    come before any daemon has migrated the schema ("no such table"), which is not a failure.
    """
    if not state_file.exists():
        return []
    conn = sqlite3.connect(f"file:{state_file}?mode=ro", uri=True, timeout=10)
    try:
        return list(conn.execute(sql, params).fetchall())
    except sqlite3.OperationalError as err:
        if "no such table" in str(err):
            return []
        raise
    finally:
        conn.close()


class SteppingClock:
    """A monotonic clock (seconds) that moves only when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# The nvrctl of this checkout's virtualenv, beside the Python running the tests.
NVRCTL = str(Path(sys.executable).with_name("nvrctl"))


def run_nvrctl(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the real nvrctl against `config`; its output captured, its exit code not checked."""
    return subprocess.run(
        [NVRCTL, *args, "--config", str(config)],
        capture_output=True,
        text=True,
        check=False,
    )


def refused_start(argv: list[str]) -> list[str]:
    """Run `argv` (a daemon, nvrctl) that must refuse to start: exit 1, no traceback.

    Returns the lines of its stderr; the last says why (a daemon that opened a new state
    file logs its migrations before it).
    """
    started = subprocess.run(
        argv, capture_output=True, text=True, timeout=60, env=child_environment(), check=False
    )
    assert started.returncode == 1, started.stderr
    assert "Traceback" not in started.stderr, started.stderr
    return started.stderr.strip().splitlines()


def self_signed(directory: Path) -> tuple[Path, Path]:
    """The box's certificate and key as the installer makes them (`nvrctl tls self-signed`).

    Clients in the tests verify against the certificate itself (pinned), as a NOC or the
    HSE centre would with a self-signed box.
    """
    made = subprocess.run(
        [sys.executable, "-m", "nvr.cli.main", "tls", "self-signed", "--dir", str(directory)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "wrote" in made.stdout
    key = directory / "nvr.key"
    assert key.stat().st_mode & 0o077 == 0o040  # owner rw, group r, others nothing
    return directory / "nvr.crt", key


def wait_until(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll `predicate` until it returns something truthy; fail naming `what`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for: {what}")


@contextlib.contextmanager
def loop_mounted(directory: Path, size: str) -> Iterator[Path]:
    """A fresh ext4 filesystem of `size` (e.g. "64M") mounted at directory/disk; unmounted after.

    A real small disk: watermarks, ENOSPC and unmounts behave as on the appliance.
    """
    image = directory / "disk.img"
    mount_point = directory / "disk"
    mount_point.mkdir()
    subprocess.run(["truncate", "-s", size, str(image)], check=True)
    subprocess.run(["mkfs.ext4", "-q", "-F", str(image)], check=True)
    subprocess.run(["mount", "-o", "loop", str(image), str(mount_point)], check=True)
    try:
        yield mount_point
    finally:
        result = subprocess.run(["umount", str(mount_point)], check=False, capture_output=True)
        if result.returncode != 0:
            # Something (a failed test's child) still holds it: detach lazily, never leak.
            subprocess.run(["umount", "-l", str(mount_point)], check=False)


# A port we picked may be taken by someone else before the server binds it.
PORT_ATTEMPTS = 3


def on_free_ports(pick: Callable[[], None], start: Callable[[], None]) -> None:
    """`start()` on the ports `pick()` chose; on a failed start, pick new ones and retry."""
    for attempt in range(1, PORT_ATTEMPTS + 1):
        pick()
        try:
            start()
            return
        except RuntimeError:
            if attempt == PORT_ATTEMPTS:
                raise


class LoopbackServer:
    """A real server process on loopback for the tests (MinIO, mosquitto).

    `stop()` then `start()` brings it back on the same port and data: an outage and a
    recovery, as the box sees them. Subclasses spawn the process and say when it is ready.
    """

    name = "server"
    start_timeout_s = 30.0
    stop_timeout_s = 10.0
    poll_s = 0.05

    def __init__(self) -> None:
        self._proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Start the process (again) and wait until it is ready."""
        raise NotImplementedError

    def launch(self, argv: list[str], log_path: Path, env: dict[str, str] | None = None) -> None:
        """Start `argv` in a session of its own, its output appended to `log_path`."""
        with log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )

    def ready(self) -> bool:
        """True once the server answers."""
        raise NotImplementedError

    def log_tail(self) -> str:
        """The end of the server's log, for failure messages."""
        return ""

    def wait_ready(self) -> None:
        """Wait for `ready()`; fail with the log's tail if the process dies or is too slow."""
        assert self._proc is not None
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self._proc.returncode}: {self.log_tail()}"
                )
            if self.ready():
                return
            time.sleep(self.poll_s)
        self.stop()
        raise RuntimeError(
            f"{self.name} not ready after {self.start_timeout_s:.0f}s: {self.log_tail()}"
        )

    def stop(self) -> None:
        """SIGTERM, then SIGKILL; the port and data stay for `start()`."""
        if self._proc is not None:
            stop_process(self._proc, self.stop_timeout_s)
            self._proc = None

    @property
    def running(self) -> bool:
        """True while the server process runs."""
        return self._proc is not None and self._proc.poll() is None


class Child:
    """A process of ours with its output in numbered log files (one per start)."""

    def __init__(self, root: Path, name: str) -> None:
        self.root = root
        self.name = name
        self.logs: list[Path] = []
        self.proc: subprocess.Popen[bytes] | None = None

    def spawn(self, argv: list[str], **env: str) -> Path:
        """Start `argv` (extra environment in `env`) logging to a new numbered file.

        The number skips files already there, so two children of the same name in one
        directory keep a log each. Plain log lines: no journald priority prefixes unless a
        test asks for them with JOURNAL_STREAM in `env`.
        """
        number = len(self.logs)
        while (self.root / f"{self.name}-{number}.log").exists():
            number += 1
        log = self.root / f"{self.name}-{number}.log"
        self.logs.append(log)
        base = child_environment()
        base.pop("JOURNAL_STREAM", None)
        with log.open("wb") as handle:
            self.proc = subprocess.Popen(
                argv, stdout=handle, stderr=subprocess.STDOUT, env={**base, **env}
            )
        return log

    def signal(self, signum: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(signum)

    def stop(self, timeout: float = 30.0) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout)
        self.proc = None
        return code

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(10)
        self.proc = None

    def log(self) -> str:
        return "".join(p.read_text(errors="replace") for p in self.logs)


def _free_udp_pair() -> int:
    """An even UDP port whose successor is free too (RTP and RTCP)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rtp:
            rtp.bind(("127.0.0.1", 0))
            port = int(rtp.getsockname()[1])
        if port % 2:
            continue
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as check:
                check.bind(("127.0.0.1", port + 1))
        except OSError:
            continue
        return port
    raise RuntimeError("no free UDP port pair")


@contextlib.contextmanager
def relay_camera(run_dir: Path, source: str, transport: str) -> Iterator[str]:
    """A camera that speaks only `transport` (RTSP 461 to the other one); yields its URL.

    It is a mediamtx pulling `source` (e.g. an odd-password simulator camera, which also
    shows that a proxy gets an encoded password right).
    """
    rtp = _free_udp_pair()
    server = MediamtxServer(
        run_dir,
        paths={"relay": {"source": source, "rtspTransport": "tcp"}},
        extra_config={
            "rtspTransports": [transport],
            "rtpAddress": f"127.0.0.1:{rtp}",
            "rtcpAddress": f"127.0.0.1:{rtp + 1}",
        },
    )
    server.start()
    try:
        wait_until(lambda: "relay" in server.available_paths(), 60, "relay pulling its source")
        yield server.rtsp_url("relay")
    finally:
        server.stop()


class NvrDaemon(Child):
    """One on-site daemon (`nvr.report.main`, ...) run with a config file.

    Its logs go beside the config unless `root` says otherwise; `notify_socket` gives it a
    systemd notify socket to report READY and STATUS to.
    """

    def __init__(
        self,
        module: str,
        config: Path,
        notify_socket: Path | None = None,
        *,
        root: Path | None = None,
    ) -> None:
        super().__init__(root or config.parent, module.split(".")[1])
        self._argv = [sys.executable, "-m", module, "--config", str(config)]
        self._env = {"NOTIFY_SOCKET": str(notify_socket)} if notify_socket is not None else {}
        self.start()

    def start(self) -> None:
        """Start it (again, after stop() or kill()): a new log file; log() reads them all."""
        assert not self.alive, f"{self.name} is running already"
        self.spawn(self._argv, **self._env)

    @property
    def alive(self) -> bool:
        """True while the daemon runs (not stopped, killed or exited)."""
        return self.proc is not None and self.proc.poll() is None


@contextlib.contextmanager
def ready_daemon(
    module: str, config: Path, root: Path, stop_timeout: float = 30.0
) -> Iterator[tuple[NvrDaemon, NotifySocket]]:
    """`module` run with `config` and a notify socket in `root`, for the `with` block.

    It must send READY=1 within 30 s; when the block ends, SIGTERM must stop it with exit
    code 0 within `stop_timeout`. If the block fails, it is killed instead.
    """
    notify = NotifySocket(root / "notify.sock")
    daemon = NvrDaemon(module, config, notify.path, root=root)
    try:
        notify.wait_for(lambda m: m.startswith("READY=1"))
        yield daemon, notify
        assert daemon.stop(stop_timeout) == 0, daemon.log()
    finally:
        if daemon.alive:
            daemon.kill()
        notify.close()
