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
from pathlib import Path

from nvr.core.tools import require_tool
from nvr_camsim.mediamtx import free_port
from nvrtest import LoopbackServer


class MosquittoBroker(LoopbackServer):
    """`with MosquittoBroker(tmp_path / "mqtt") as broker: ... broker.host, broker.port`.

    `users` ({name: password}) turns authentication on: anonymous clients are refused.
    """

    host = "127.0.0.1"
    name = "mosquitto"
    start_timeout_s = 15.0

    def __init__(self, directory: Path, users: dict[str, str] | None = None) -> None:
        super().__init__()
        self.directory = directory
        self.users = users or {}
        self.port = 0
        self.log_path = directory / "mosquitto.log"

    def start(self) -> None:
        """Start (again, on the same port) and wait until it accepts connections."""
        if self.running:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port()
        config = self._write_config()
        self.launch(
            [require_tool("mosquitto"), "-c", str(config)], self.directory / "mosquitto.out"
        )
        self.wait_ready()

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

    def ready(self) -> bool:
        """The broker accepts TCP connections."""
        try:
            with socket.create_connection((self.host, self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def log(self) -> str:
        """The broker's log so far (connections, disconnections, wills)."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_tail(self) -> str:
        """The broker's log so far, for failure messages."""
        return self.log()
