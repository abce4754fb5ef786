"""A real mosquitto broker on loopback for the tests (/usr/sbin/mosquitto or $NVR_MOSQUITTO_BIN).

`stop()` and `start()` keep the port, so a test can take the broker away (a WAN outage, a
broker restart) and bring it back where the clients expect it. Without persistence, a
restart loses retained messages and sessions, like a broker that was replaced.
"""

from __future__ import annotations

import os
import pwd
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

from nvr.core.process import stop_process
from nvr.core.tools import require_tool

START_TIMEOUT_S = 15.0
STOP_TIMEOUT_S = 10.0
POLL_S = 0.05


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class MosquittoBroker:
    """`with MosquittoBroker(tmp_path / "mqtt") as broker: ... broker.host, broker.port`.

    `users` ({name: password}) turns authentication on: anonymous clients are refused.
    """

    host = "127.0.0.1"

    def __init__(self, directory: Path, users: dict[str, str] | None = None) -> None:
        self.directory = directory
        self.users = users or {}
        self.port = 0
        self.log_path = directory / "mosquitto.log"
        self._proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> MosquittoBroker:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Start (again, on the same port) and wait until it accepts connections."""
        if self.running:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port()
        config = self._write_config()
        with (self.directory / "mosquitto.out").open("ab") as out:
            self._proc = subprocess.Popen(
                [require_tool("mosquitto"), "-c", str(config)],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._wait_listening()

    def _write_config(self) -> Path:
        lines = [
            f"listener {self.port} {self.host}",
            "persistence false",
            f"log_dest file {self.log_path}",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
            # As root mosquitto would switch to a `mosquitto` user that cannot read our files.
            f"user {pwd.getpwuid(os.getuid()).pw_name}",
        ]
        if self.users:
            passwords = self.directory / "passwords"
            passwords.write_text("")
            for name, password in self.users.items():
                subprocess.run(
                    ["mosquitto_passwd", "-b", str(passwords), name, password],
                    check=True,
                    capture_output=True,
                )
            lines += ["allow_anonymous false", f"password_file {passwords}"]
        else:
            lines.append("allow_anonymous true")
        config = self.directory / "mosquitto.conf"
        config.write_text("\n".join(lines) + "\n")
        return config

    def _wait_listening(self) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"mosquitto exited with {self._proc.returncode}: {self.log()}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(POLL_S)
        self.stop()
        raise RuntimeError(f"mosquitto not listening after {START_TIMEOUT_S:.0f}s: {self.log()}")

    def stop(self) -> None:
        """Stop the broker (SIGTERM, then SIGKILL); `start()` brings it back on the same port."""
        if self._proc is not None:
            stop_process(self._proc, STOP_TIMEOUT_S)
            self._proc = None

    @property
    def running(self) -> bool:
        """True while the broker process runs."""
        return self._proc is not None and self._proc.poll() is None

    def log(self) -> str:
        """The broker's log so far (connections, disconnections, wills)."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
