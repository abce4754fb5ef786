"""A real MinIO server on loopback for the tests (binary from $NVR_MINIO_BIN), alone or as
one node of an erasure-coded cluster (`MinioCluster`: 4 processes, one drive each).

`stop()` and `start()` keep the port and the data directory, so a test can take the server
away (a WAN or MinIO outage, a dead node) and bring the same store back.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import requests
import urllib3
from minio import Minio
from minio.credentials import StaticProvider
from minio.error import MinioAdminException
from minio.minioadmin import MinioAdmin

from nvr.core.minio_policy import site_policy
from nvr.core.tools import require_tool
from nvr_camsim.mediamtx import free_port
from nvrtest import LoopbackServer, on_free_ports

ACCESS_KEY = "nvr-test"


@dataclass(frozen=True)
class MinioAccount:
    """An endpoint and an access key: the root one, or a site's on a shared cluster."""

    endpoint: str
    access_key: str
    secret_key: str

    def config_section(self, **overrides: Any) -> dict[str, Any]:
        """The box's `uplink.minio` section (plain HTTP on loopback)."""
        return {
            "endpoint": self.endpoint,
            "access_key": self.access_key,
            "secret_key": self.secret_key,
            "secure": False,
            **overrides,
        }

    def client(self) -> Minio:
        """An SDK client with this access key."""
        return Minio(
            self.endpoint, access_key=self.access_key, secret_key=self.secret_key, secure=False
        )


class MinioServer(LoopbackServer):
    """`with MinioServer(tmp_path / "minio") as server: server.client().list_buckets()`."""

    name = "minio"

    def __init__(self, data_dir: Path, secret_key: str | None = None) -> None:
        super().__init__()
        self.data_dir = data_dir
        self.log_path = data_dir.with_name(f"{data_dir.name}.log")
        self.access_key = ACCESS_KEY
        # Random per server: a test that greps logs for it finds only real leaks.
        self.secret_key = secret_key or f"minio-secret-{secrets.token_hex(12)}"
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
        on_free_ports(self._pick_ports, self._spawn_and_wait)

    def _pick_ports(self) -> None:
        self.port, self.console_port = free_port(), free_port()

    def _spawn_and_wait(self) -> None:
        self.spawn()
        self.wait_ready()

    def _drives(self) -> list[str]:
        """The `minio server` arguments naming the drives: this server's data directory."""
        return [str(self.data_dir)]

    def _environment(self) -> dict[str, str]:
        return {
            **os.environ,
            "MINIO_ROOT_USER": self.access_key,
            "MINIO_ROOT_PASSWORD": self.secret_key,
            "MINIO_UPDATE": "off",
        }

    def spawn(self) -> None:
        """Start the process on the chosen ports without waiting for it."""
        argv = [
            require_tool("minio"),
            "server",
            *self._drives(),
            "--address",
            self.endpoint,
            "--console-address",
            f"127.0.0.1:{self.console_port}",
            "--quiet",
        ]
        self.launch(argv, self.log_path, self._environment())

    def ready(self) -> bool:
        """MinIO's liveness probe answers 200."""
        try:
            url = f"http://{self.endpoint}/minio/health/live"
            return requests.get(url, timeout=1).status_code == 200
        except requests.RequestException:
            return False

    @property
    def account(self) -> MinioAccount:
        """The root credentials on this server."""
        return MinioAccount(self.endpoint, self.access_key, self.secret_key)

    def client(self) -> Minio:
        """An SDK client with the root credentials."""
        return self.account.client()

    def config_section(self, **overrides: Any) -> dict[str, Any]:
        """The `uplink.minio` section pointing at this server (plain HTTP)."""
        return self.account.config_section(**overrides)

    def log_tail(self, lines: int = 20) -> str:
        """The last lines of the server's log, for failure messages."""
        if not self.log_path.exists():
            return ""
        return " | ".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


class MinioNode(MinioServer):
    """One server of a `MinioCluster`: its own drive, the cluster's ports and root secret."""

    def __init__(self, data_dir: Path, secret_key: str, members: list[str]) -> None:
        super().__init__(data_dir, secret_key)
        self.members = members  # every node's `http://127.0.0.1:PORT/drive`, this one's too

    def _drives(self) -> list[str]:
        return self.members

    def _environment(self) -> dict[str, str]:
        return {
            **super()._environment(),
            # In a container (/.dockerenv) MinIO waits for 127.0.0.1 to resolve to a "real"
            # address before it takes an endpoint as its own; this names its own endpoint.
            "_MINIO_SERVER_LOCAL": self.endpoint,
            # The drives are directories on the root filesystem, which MinIO refuses
            # outside of CI mode ("drive is part of root drive").
            "MINIO_CI_CD": "1",
        }

    def start(self) -> None:
        """Start the node again on its ports; the cluster picks them."""
        if not self.running:
            self._spawn_and_wait()


class MinioCluster:
    """An erasure-coded MinIO deployment: `nodes` server processes on loopback, one drive each.

    With 4 drives MinIO uses parity 2 (EC:2): any 2 drives hold an object, a write needs 3.
    Clients talk to node 0 (a company would put a load balancer in front); `stop_node(i)`
    and `start_node(i)` take another node away and bring it back with its drive.
    """

    start_timeout_s = 60.0

    def __init__(self, root: Path, nodes: int = 4) -> None:
        self.root = root
        self.secret_key = f"minio-secret-{secrets.token_hex(12)}"
        self.nodes: list[MinioNode] = []
        self._count = nodes
        self._users: dict[str, MinioAccount] = {}  # site id -> its user (the company's key)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Start every node and wait until the cluster has every drive and its write quorum.

        The first start makes a new cluster (new ports, empty drives: a try whose port was
        taken leaves nothing behind); a start after `stop()` brings the same one back.
        """
        if self.nodes:
            self._start_nodes()
            return
        on_free_ports(self._place_nodes, self._start_nodes)

    def _start_nodes(self) -> None:
        for node in self.nodes:
            node.spawn()  # all at once: each waits for the others to form the cluster
        for node in self.nodes:
            node.wait_ready()
        self.wait_online(self._count)

    def _place_nodes(self) -> None:
        """Fresh ports, empty drives and the member list every node is started with."""
        self.stop()  # what a failed try started
        self.nodes = []
        ports = [(free_port(), free_port()) for _ in range(self._count)]
        drives = [self.root / f"drive{i}" for i in range(self._count)]
        pairs = list(zip(ports, drives, strict=True))
        members = [f"http://127.0.0.1:{api}{drive}" for (api, _), drive in pairs]
        for (api, console), drive in pairs:
            shutil.rmtree(drive, ignore_errors=True)
            drive.mkdir(parents=True)
            node = MinioNode(drive, self.secret_key, members)
            node.port, node.console_port = api, console
            self.nodes.append(node)

    def stop(self) -> None:
        """Stop every node (their drives stay)."""
        for node in self.nodes:
            node.stop()

    def stop_node(self, index: int) -> None:
        """Take one server (and its drive) away, as a dead machine would."""
        self.nodes[index].stop()

    def start_node(self, index: int) -> None:
        """Bring a server back with its drive; wait until the running ones are all online."""
        self.nodes[index].start()
        self.wait_online(sum(node.running for node in self.nodes))

    @property
    def endpoint(self) -> str:
        """Where the box points (`uplink.minio.endpoint`): node 0."""
        return self.nodes[0].endpoint

    def drive(self, index: int) -> Path:
        """The data directory of one node."""
        return self.nodes[index].data_dir

    @property
    def account(self) -> MinioAccount:
        """The root credentials, on node 0."""
        return MinioAccount(self.endpoint, ACCESS_KEY, self.secret_key)

    def client(self) -> Minio:
        """An SDK client with the root credentials on node 0."""
        return self.account.client()

    def admin(self, account: MinioAccount | None = None) -> MinioAdmin:
        """The admin API on node 0 (users, policies, access keys, server info): `mc admin`."""
        key = account or self.account
        provider = StaticProvider(key.access_key, key.secret_key)
        return MinioAdmin(endpoint=self.endpoint, credentials=provider, secure=False)

    def backend(self) -> dict[str, Any]:
        """The erasure backend as the server describes it (drives online, parity)."""
        info: dict[str, Any] = json.loads(self.admin().info())
        backend: dict[str, Any] = info["backend"]
        return backend

    def wait_online(self, drives: int) -> None:
        """Wait until node 0 sees `drives` drives online and the cluster takes writes."""
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            if self._online_drives() >= drives and self.writable():
                return
            time.sleep(0.1)
        raise RuntimeError(f"MinIO cluster: {drives} drives not online: {self.log_tail()}")

    def _online_drives(self) -> int:
        try:
            return int(self.backend().get("onlineDisks", 0))
        except (MinioAdminException, urllib3.exceptions.HTTPError, ValueError):
            return 0  # not answering yet (or not a cluster yet): what we wait out

    def writable(self) -> bool:
        """MinIO's cluster health: 200 while the cluster has its write quorum."""
        return self._health("cluster")

    def readable(self) -> bool:
        """MinIO's cluster read health: 200 while objects can be read."""
        return self._health("cluster/read")

    def _health(self, what: str) -> bool:
        try:
            url = f"http://{self.endpoint}/minio/health/{what}"
            return requests.get(url, timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def add_site(
        self, site_id: str, buckets: Iterable[str], policy: dict[str, Any] | None = None
    ) -> MinioAccount:
        """Provision a site as objects.md says: a user, its policy, an access key for the box.

        The policy is `site_policy` unless given (e.g. what `nvrctl config minio-policy`
        printed). The user's own secret stays with the company; the box gets the access key.
        """
        user = MinioAccount(
            self.endpoint, f"site-{site_id}", f"user-secret-{secrets.token_hex(12)}"
        )
        admin = self.admin()
        admin.user_add(user.access_key, user.secret_key)
        admin.policy_add(user.access_key, policy=policy or site_policy(site_id, buckets))
        admin.attach_policy([user.access_key], user=user.access_key)
        self._users[site_id] = user
        return self.add_access_key(site_id)

    def add_access_key(self, site_id: str) -> MinioAccount:
        """A new access key of the site's user (same policy): the first one or a rotation.

        Made by the site's user itself (`mc admin user svcacct add` does it as root for a
        named user; the SDK's admin API only makes keys for the caller).
        """
        key = MinioAccount(
            self.endpoint,
            f"{site_id}-{secrets.token_hex(4)}",
            f"box-secret-{secrets.token_hex(12)}",
        )
        own = self.admin(self._users[site_id])
        own.add_service_account(access_key=key.access_key, secret_key=key.secret_key)
        return key

    def remove_access_key(self, key: MinioAccount) -> None:
        """Revoke an access key (the old one, once its box uses the new)."""
        self.admin().delete_service_account(key.access_key)

    def log_tail(self) -> str:
        """Every node's last log lines, for failure messages."""
        return " || ".join(f"node{i}: {n.log_tail(5)}" for i, n in enumerate(self.nodes))
