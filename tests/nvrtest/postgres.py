"""A real PostgreSQL server on loopback for the tests (Debian's `postgresql` package).

`initdb` into a fresh directory, `postgres` on a free loopback port with trust auth for the
`postgres` role; each test takes a database of its own (`create_database`). PostgreSQL
refuses to run as root, so under root the server runs as the package's `postgres` account,
in a directory that account owns (not under pytest's root-only tmp tree).
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
from pathlib import Path

import psycopg

from nvr.core.errors import MissingToolError
from nvr_camsim.mediamtx import free_port
from nvrtest import LoopbackServer, on_free_ports

BINDIR_ENV = "NVR_PG_BINDIR"
SERVICE_ACCOUNT = "postgres"


def postgres_bindir() -> Path:
    """The directory holding initdb and postgres; MissingToolError naming where we looked."""
    override = os.environ.get(BINDIR_ENV)
    candidates = [override] if override else sorted(glob.glob("/usr/lib/postgresql/*/bin"))
    for candidate in reversed(candidates):
        if (Path(candidate) / "initdb").is_file() and (Path(candidate) / "postgres").is_file():
            return Path(candidate)
    where = f"{BINDIR_ENV}={override}" if override else "/usr/lib/postgresql/*/bin"
    raise MissingToolError(f"postgresql not found ({where}): install Debian's postgresql")


class PostgresServer(LoopbackServer):
    """`with PostgresServer() as pg: url = pg.create_database("t1")`."""

    name = "postgres"

    def __init__(self) -> None:
        super().__init__()
        self.bindir = postgres_bindir()
        self.root = Path(tempfile.mkdtemp(prefix="nvr-pg-"))
        self.data_dir = self.root / "data"
        self.log_path = self.root / "postgres.log"
        self.port = 0
        self._as_account: list[str] = []
        if os.geteuid() == 0:
            account = pwd.getpwnam(SERVICE_ACCOUNT)
            os.chown(self.root, account.pw_uid, account.pw_gid)
            self._as_account = ["runuser", "-u", SERVICE_ACCOUNT, "--"]

    def _run(self, argv: list[str]) -> None:
        subprocess.run(
            self._as_account + argv, check=True, capture_output=True, cwd=self.root, timeout=120
        )

    def start(self) -> None:
        """initdb on first start, then serve on a free port (the same one on a restart)."""
        if self.running:
            return
        if not self.data_dir.exists():
            self._run(
                [
                    str(self.bindir / "initdb"),
                    "--auth=trust",
                    f"--username={SERVICE_ACCOUNT}",
                    "--encoding=UTF8",
                    "--no-sync",  # a test cluster: durability across power cuts is not tested here
                    str(self.data_dir),
                ]
            )
        if self.port:
            self._spawn_and_wait()
            return
        on_free_ports(self._pick_port, self._spawn_and_wait)

    def _pick_port(self) -> None:
        self.port = free_port()

    def _spawn_and_wait(self) -> None:
        argv = [
            str(self.bindir / "postgres"),
            "-D",
            str(self.data_dir),
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-k",
            str(self.root),  # the unix socket beside the data, not /var/run/postgresql
            "-c",
            "max_connections=300",  # several head-office processes, each with a pool
        ]
        self.launch(self._as_account + argv, self.log_path)
        self.wait_ready()

    def ready(self) -> bool:
        """The server accepts a connection to its maintenance database."""
        try:
            with psycopg.connect(self.url("postgres"), connect_timeout=2):
                return True
        except psycopg.OperationalError:
            return False

    def url(self, database: str) -> str:
        """`postgresql://postgres@127.0.0.1:PORT/<database>`."""
        return f"postgresql://{SERVICE_ACCOUNT}@127.0.0.1:{self.port}/{database}"

    def create_database(self, prefix: str = "nvr") -> str:
        """A new empty database; its URL."""
        name = f"{prefix}_{secrets.token_hex(4)}"
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def log_tail(self, lines: int = 20) -> str:
        """The last lines of the server's log, for failure messages."""
        if not self.log_path.exists():
            return ""
        return " | ".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def remove(self) -> None:
        """Stop the server and delete its directory."""
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)
