"""A real MinIO server on loopback for the tests (binary from $NVR_MINIO_BIN).

`stop()` and `start()` keep the port and the data directory, so a test can take the server
away (a WAN or MinIO outage) and bring the same store back.
"""

from __future__ import annotations

import os
import secrets
import subprocess
from pathlib import Path
from typing import Any

import requests
from minio import Minio

from nvr.core.tools import require_tool
from nvr_camsim.mediamtx import free_port
from nvrtest import LoopbackServer

ACCESS_KEY = "nvr-test"
# A port we picked may be taken by someone else before minio binds it.
PORT_ATTEMPTS = 3


class MinioServer(LoopbackServer):
    """`with MinioServer(tmp_path / "minio") as server: server.client().list_buckets()`."""

    name = "minio"

    def __init__(self, data_dir: Path) -> None:
        super().__init__()
        self.data_dir = data_dir
        self.log_path = data_dir.with_name(f"{data_dir.name}.log")
        self.access_key = ACCESS_KEY
        # Random per server: a test that greps logs for it finds only real leaks.
        self.secret_key = f"minio-secret-{secrets.token_hex(12)}"
        self.port = 0
        self.console_port = 0

    @property
    def endpoint(self) -> str:
        """`127.0.0.1:PORT`, the form of `uplink.minio.endpoint`."""
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start the server (again, on the same port and data) and wait until it is live."""
        if self.running:
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.port:
            self._spawn_and_wait()
            return
        for attempt in range(1, PORT_ATTEMPTS + 1):
            self.port, self.console_port = free_port(), free_port()
            try:
                self._spawn_and_wait()
                return
            except RuntimeError:
                if attempt == PORT_ATTEMPTS:
                    raise

    def _spawn_and_wait(self) -> None:
        env = {
            **os.environ,
            "MINIO_ROOT_USER": self.access_key,
            "MINIO_ROOT_PASSWORD": self.secret_key,
            "MINIO_UPDATE": "off",
        }
        argv = [
            require_tool("minio"),
            "server",
            str(self.data_dir),
            "--address",
            self.endpoint,
            "--console-address",
            f"127.0.0.1:{self.console_port}",
            "--quiet",
        ]
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        self.wait_ready()

    def ready(self) -> bool:
        """MinIO's liveness probe answers 200."""
        try:
            url = f"http://{self.endpoint}/minio/health/live"
            return requests.get(url, timeout=1).status_code == 200
        except requests.RequestException:
            return False

    def client(self) -> Minio:
        """An SDK client with the root credentials."""
        return Minio(
            self.endpoint, access_key=self.access_key, secret_key=self.secret_key, secure=False
        )

    def config_section(self, **overrides: Any) -> dict[str, Any]:
        """The `uplink.minio` section pointing at this server (plain HTTP)."""
        return {
            "endpoint": self.endpoint,
            "access_key": self.access_key,
            "secret_key": self.secret_key,
            "secure": False,
            **overrides,
        }

    def log_tail(self, lines: int = 20) -> str:
        """The last lines of the server's log, for failure messages."""
        if not self.log_path.exists():
            return ""
        return " | ".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
