"""A real nvr-headoffice process and a client that signs like nvr-uplink does.

The fixtures `start_headoffice` and `headoffice` are imported by the conftest of each test
directory that talks to a receiver (tests/tools/headoffice, tests/evidence). Receivers use
SQLite unless a test module runs on both engines with `pytestmark = BOTH_ENGINES`: then
each test runs once on SQLite and once on a real PostgreSQL (the `postgres_url` fixture).
"""

from __future__ import annotations

import json
import re
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from nvr.core.redact import Secret
from nvr.core.signing import report_signature as sign
from nvrtest import Child, wait_until

SITE = "smg-01"
SECRET = "ho-secret-4c1e9a77d2"
OTHER_SITE = "smg-02"
OTHER_SECRET = "inline-secret-b7d03f"
SERVING = re.compile(r"serving on http://127\.0\.0\.1:(\d+)/")


def write_sites(
    root: Path, name: str = "Semarang plant", extra_sites: dict[str, Any] | None = None
) -> Path:
    """A sites file: SITE with its secret in a file, OTHER_SITE inline, plus `extra_sites`."""
    key = root / f"{SITE}.key"
    key.write_text(SECRET + "\n")
    sites: dict[str, Any] = {
        SITE: {"secret_file": str(key), "name": name},
        OTHER_SITE: {"secret": OTHER_SECRET},
        **(extra_sites or {}),
    }
    path = root / "sites.yaml"
    path.write_text(yaml.safe_dump({"sites": sites, "replay_window_seconds": 300}))
    return path


def envelope(seq: int, kind: str = "event", site: str = SITE, **body: Any) -> dict[str, Any]:
    """A report envelope as nvr-report writes it."""
    return {
        "schema": 1,
        "id": str(uuid.uuid4()),
        "site_id": site,
        "kind": kind,
        "created_at": "2026-11-21T08:00:00.000Z",
        "seq": seq,
        "body": body or {"event": "camera_offline", "message": f"report {seq}"},
    }


def uplink_box_config(root: Path, reports_url: str) -> Path:
    """A box config whose nvr-uplink delivers to `reports_url`, retrying fast (SITE, SECRET)."""
    for folder in ("recordings", "state"):
        (root / folder).mkdir(exist_ok=True)
    key = root / "site.key"
    key.write_text(SECRET + "\n")
    key.chmod(0o640)
    config = {
        "site": {"id": SITE},
        "storage": {
            "recordings_dir": str(root / "recordings"),
            "state_file": str(root / "state" / "state.db"),
        },
        "uplink": {
            "head_office": {"url": reports_url, "secret_file": str(key)},
            "retry_initial_seconds": 0.1,
            "retry_max_seconds": 0.5,
        },
        "cameras": [{"id": "cam01", "name": "Gate", "url": "rtsp://a:cam-pw-9@127.0.0.1:9/x"}],
    }
    path = root / "nvr.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def reference_gaps(received: set[int]) -> list[list[int]]:
    """The missing ranges of [min, max], computed the slow, obvious way."""
    gaps: list[list[int]] = []
    for seq in range(min(received), max(received) + 1):
        if seq in received:
            continue
        if gaps and gaps[-1][1] == seq - 1:
            gaps[-1][1] = seq
        else:
            gaps.append([seq, seq])
    return gaps


# The console script `pip install nvr-tools` makes (tools/pyproject.toml), as an operator runs it.
HEADOFFICE_BIN = str(Path(sys.executable).with_name("nvr-headoffice"))


ENGINES = ("sqlite", "postgres")
# A module's `pytestmark = BOTH_ENGINES` runs its tests on SQLite and on PostgreSQL.
BOTH_ENGINES = pytest.mark.parametrize("headoffice_engine", ENGINES, indirect=True)


def headoffice_argv(listen: str, database: Path | str, sites: Path) -> list[str]:
    return [HEADOFFICE_BIN, "--listen", listen, "--database", str(database), "--sites", str(sites)]


class HeadOffice(Child):
    """One nvr-headoffice process on a free port (with `workers`, a parent and its workers)."""

    def __init__(
        self, root: Path, sites: Path, database: Path | str | None = None, workers: int = 1
    ) -> None:
        super().__init__(root, "headoffice")
        self.sites = sites
        self.database = database or root / "headoffice.db"
        self.workers = workers
        self.port = 0
        self.start()

    @property
    def engine(self) -> str:
        """`postgres` or `sqlite`."""
        return "postgres" if str(self.database).startswith("postgresql://") else "sqlite"

    def start(self) -> None:
        argv = headoffice_argv("127.0.0.1:0", self.database, self.sites)
        if self.workers > 1:
            argv += ["--workers", str(self.workers)]
        log = self.spawn(argv)
        match = wait_until(
            lambda: SERVING.search(log.read_text()) or self._died(), 30, "serving on ..."
        )
        self.port = int(match.group(1))

    def _died(self) -> bool:
        """Fail at once (rather than time out) when the receiver exited during start-up."""
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"nvr-headoffice exited {self.proc.returncode}: {self.log()}")
        return False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def reports_url(self) -> str:
        return f"{self.url}/api/nvr/reports"

    def post(
        self,
        data: Any,
        site: str = SITE,
        secret: str = SECRET,
        timestamp: float | None = None,
        raw: bytes | None = None,
    ) -> requests.Response:
        """POST signed exactly as nvr-uplink signs (its own `sign`)."""
        body = raw if raw is not None else json.dumps(data, separators=(",", ":")).encode()
        stamp = str(int(timestamp if timestamp is not None else time.time()))
        headers = {
            "Content-Type": "application/json",
            "X-NVR-Site": site,
            "X-NVR-Timestamp": stamp,
            "X-NVR-Signature": sign(Secret(secret), stamp, body),
        }
        return requests.post(self.reports_url, data=body, headers=headers, timeout=10)

    def get(self, path: str) -> requests.Response:
        return requests.get(self.url + path, timeout=10)

    def site(self, site_id: str = SITE) -> dict[str, Any]:
        sites = self.get("/api/sites").json()
        return next(s for s in sites if s["site_id"] == site_id)

    def reports(self, site_id: str = SITE, query: str = "") -> list[dict[str, Any]]:
        response = self.get(f"/api/sites/{site_id}/reports{query}")
        assert response.status_code == 200, response.text
        result: list[dict[str, Any]] = response.json()
        return result


@pytest.fixture
def headoffice_engine(request: pytest.FixtureRequest) -> str:
    """The engine of the test's receivers: SQLite, unless BOTH_ENGINES parametrizes it."""
    engine: str = getattr(request, "param", "sqlite")
    return engine


@pytest.fixture
def headoffice_database(
    headoffice_engine: str, request: pytest.FixtureRequest, tmp_path: Path
) -> Path | str:
    """The receivers' database: a SQLite file, or a fresh database on the test PostgreSQL."""
    if headoffice_engine == "postgres":
        url: str = request.getfixturevalue("postgres_url")
        return url
    return tmp_path / "headoffice.db"


@pytest.fixture
def start_headoffice(
    tmp_path: Path, headoffice_database: Path | str
) -> Iterator[Callable[..., HeadOffice]]:
    """Start receivers; at the end each must stop cleanly and its log hold no secret."""
    started: list[HeadOffice] = []

    def start(
        sites: Path | None = None, database: Path | str | None = None, workers: int = 1
    ) -> HeadOffice:
        receiver = HeadOffice(
            tmp_path, sites or write_sites(tmp_path), database or headoffice_database, workers
        )
        started.append(receiver)
        return receiver

    yield start
    for receiver in started:
        if receiver.proc is not None:
            assert receiver.stop() == 0, receiver.log()
        text = receiver.log()
        assert SECRET not in text and OTHER_SECRET not in text, "a secret reached the log"
        assert "Traceback" not in text, text


@pytest.fixture
def headoffice(start_headoffice: Callable[..., HeadOffice]) -> HeadOffice:
    return start_headoffice()
