"""A simulated box: rows written the way each daemon writes them, at a fixed time."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from nvr.core.config import Config, load_config
from nvr.core.errors import StateError
from nvr.core.passwords import hash_password
from nvr.core.service import CRASH_EVENT_KIND, Lifecycle, write_heartbeat
from nvr.core.state import StateStore, now_ms
from nvr.health.probes import ProbeBoard
from nvr.health.sources import Sources

PASSWORD = "s3cr3t-pw"
CAMERAS = [
    {"id": "cam01", "name": "Gate", "url": f"rtsp://admin:{PASSWORD}@127.0.0.1:8554/cam01"},
    {"id": "cam02", "name": "Yard", "url": f"rtsp://admin:{PASSWORD}@127.0.0.1:8554/cam02"},
]
# A technician (every camera: the status page) and a guard (cam02's snapshot only).
TECH, TECH_PW = "tech", "tech-sees-all-6b1"
GUARD, GUARD_PW = "guard", "guard-sees-yard-3c8"
VIEWERS = [
    {"user": TECH, "password_hash": hash_password(TECH_PW), "cameras": "all"},
    {"user": GUARD, "password_hash": hash_password(GUARD_PW), "cameras": ["cam02"]},
]
DAEMONS = ("nvr-backup", "nvr-hddmon", "nvr-validator", "nvr-report", "nvr-uplink")


@dataclass
class Box:
    """A state file, a config and the fixed time the checks run at."""

    tmp: Path
    config_path: Path
    store: StateStore
    now: int

    @property
    def config(self) -> Config:
        return load_config(self.config_path)

    def sources(self, probes: ProbeBoard | None = None) -> Sources:
        return Sources(self.config, probes or ProbeBoard(), clock=lambda: self.now)

    def beat(self, daemon: str, detail: dict[str, Any] | None = None, **columns: Any) -> None:
        """Write a heartbeat as nvr.core.service does, then adjust columns if asked."""
        write_heartbeat(
            self.store,
            daemon=daemon,
            state=Lifecycle.RUNNING,
            status=f"{daemon} fine",
            detail=detail or {},
            started_at_ms=self.now - 3_600_000,
        )
        with self.store.write() as conn:
            conn.execute(
                "UPDATE heartbeats SET updated_at_ms = ? WHERE daemon = ?", (self.now, daemon)
            )
            for column, value in columns.items():
                conn.execute(
                    f"UPDATE heartbeats SET {column} = ? WHERE daemon = ?", (value, daemon)
                )

    def all_beating(self) -> None:
        """Every daemon's heartbeat written at `now`, nvr-backup recording both cameras."""
        recorders = {
            camera: {"state": "recording", "reason": None, "failures": 0}
            for camera in ("cam01", "cam02")
        }
        self.beat("nvr-backup", {"blocked": None, "index_backlog": 0, "cameras": recorders})
        self.hddmon(50.0)
        for daemon in ("nvr-validator", "nvr-report"):
            self.beat(daemon)
        self.uplink(0)

    def crash_event(self, daemon: str, at_ms: int) -> None:
        """The event nvr.core.service appends when a daemon starts after a crash."""
        with self.store.write() as conn:
            conn.execute(
                "INSERT INTO events (created_at_ms, source, severity, kind, message)"
                " VALUES (?, ?, 'warning', ?, 'crashed')",
                (at_ms, daemon, CRASH_EVENT_KIND),
            )

    def segment(self, camera: str, start_ms: int, seconds: int = 60) -> None:
        """An indexed segment, as nvr-backup's indexer inserts it."""
        add_segment(self.store, camera, start_ms, seconds)

    def run(self, camera: str, started: int, ended: int | None, reason: str | None) -> None:
        with self.store.write() as conn:
            conn.execute(
                "INSERT INTO recording_runs (camera, started_at_ms, ended_at_ms, end_reason)"
                " VALUES (?, ?, ?, ?)",
                (camera, started, ended, reason),
            )

    def validation(self, camera: str, status: str, reason: str = "", check: str = "black") -> None:
        with self.store.write() as conn:
            conn.execute(
                "INSERT INTO validations (camera, check_name, status, reason, checked_at_ms)"
                " VALUES (?, ?, ?, ?, ?)",
                (camera, check, status, reason, self.now - 30_000),
            )

    def report(self, created_ms: int) -> None:
        """A report in the outbox, as nvr-report appends it."""
        with self.store.write() as conn:
            seq = conn.execute("SELECT count(*) + 1 FROM outbox").fetchone()[0]
            envelope = json.dumps({"kind": "status", "seq": seq})
            conn.execute(
                "INSERT INTO outbox (report_id, site_id, seq, kind, priority, created_at_ms,"
                " bytes, envelope_json) VALUES (?, 'test-01', ?, 'status', 1, ?, ?, ?)",
                (f"r{seq}", seq, created_ms, len(envelope), envelope),
            )

    def hddmon(self, percent: float, **extra: Any) -> None:
        total = 1_000_000_000_000
        free = int(total * (100 - percent) / 100)
        detail = {
            "percent": percent,
            "free_bytes": free,
            "total_bytes": total,
            "rate_bytes_per_s": 1_000_000.0,
            "smart": {},
            "alerts": [],
            **extra,
        }
        self.beat("nvr-hddmon", detail)

    def uplink(self, backlog: int, health: str = "ok", error: str | None = None) -> None:
        detail = {
            "destinations": {
                "head_office": {
                    "health": health,
                    "retry_in_s": 0,
                    "last_error": error,
                    "delivered": 10,
                    "backlog": backlog,
                    "dead_letters": 0,
                    "oldest_pending_ms": None,
                }
            }
        }
        self.beat("nvr-uplink", detail)


def free_port() -> int:
    """A TCP port nobody listens on (bound and released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def add_segment(store: StateStore, camera: str, start_ms: int, seconds: int = 60) -> None:
    """An indexed segment, as nvr-backup's indexer inserts it (any thread's own store)."""
    with store.write() as conn:
        conn.execute(
            "INSERT INTO segments (camera, path, start_ms, end_ms, bytes, status,"
            " created_at_ms) VALUES (?, ?, ?, ?, ?, 'ok', ?)",
            (
                camera,
                f"{camera}/{start_ms}.mp4",
                start_ms,
                start_ms + seconds * 1000,
                500_000,
                start_ms + seconds * 1000,
            ),
        )


def make_box(tmp: Path, sections: dict[str, Any] | None = None, **health: Any) -> Box:
    """A healthy box: every daemon beating, both cameras recording, disk half full.

    `sections` adds config sections (e.g. a small uplink outbox bound); `health` keys
    go into the health section.
    """
    (tmp / "recordings").mkdir(exist_ok=True)
    (tmp / "state").mkdir(exist_ok=True)
    data = {
        "site": {"id": "test-01", "name": "Test site"},
        "storage": {
            "recordings_dir": str(tmp / "recordings"),
            "state_file": str(tmp / "state" / "state.db"),
        },
        "livestream": {"mediamtx_api": f"http://127.0.0.1:{free_port()}", "viewers": VIEWERS},
        "health": {"listen": f"127.0.0.1:{free_port()}", **health},
        "cameras": CAMERAS,
        **(sections or {}),
    }
    config_path = tmp / "nvr.yaml"
    config_path.write_text(yaml.safe_dump(data))
    store = StateStore.open(tmp / "state" / "state.db")
    box = Box(tmp, config_path, store, now_ms())
    for camera in ("cam01", "cam02"):
        box.run(camera, box.now - 7_200_000, None, None)
        for minute in range(5, 0, -1):
            box.segment(camera, box.now - minute * 60_000 - 10_000)
        box.validation(camera, "ok")
    box.all_beating()
    return box


# make_box's segments are a minute long; kept_alive adds one every this many beats.
SEGMENT_SECONDS = 60
SEGMENT_EVERY_BEATS = 10


@contextlib.contextmanager
def kept_alive(
    box: Box, cameras: Sequence[str], leave: Sequence[str] = ("nvr-health",)
) -> Iterator[None]:
    """The simulated box stays healthy in real time while the block runs.

    Its daemons' heartbeats (but those in `leave`, which beat for themselves) are
    refreshed every second and `cameras` record a segment every few: the box's rows are
    written once, at its `now`, so a test that runs long on a loaded box (nvr-health
    judges heartbeats and segments against the wall clock) would otherwise see stale
    daemons and cameras, a 503 it is not about.
    """
    stop = threading.Event()
    args = (box.config.storage.state_file, tuple(cameras), tuple(leave), stop)
    beats = threading.Thread(target=_keep_alive, args=args, daemon=True)
    beats.start()
    try:
        yield
    finally:
        stop.set()
        beats.join(10)


def _keep_alive(
    state_file: Path, cameras: tuple[str, ...], leave: tuple[str, ...], stop: threading.Event
) -> None:
    """A write that finds the state file busy past the store's retries is tried again on
    the next beat, as a daemon's heartbeat is: a lost beat must not end the thread."""
    store = StateStore.open(state_file)  # connections stay in one thread
    marks = ",".join("?" * len(leave))
    beat = 0
    try:
        while not stop.wait(1.0):
            with contextlib.suppress(StateError):
                with store.write() as conn:
                    conn.execute(
                        f"UPDATE heartbeats SET updated_at_ms = ? WHERE daemon NOT IN ({marks})",
                        (now_ms(), *leave),
                    )
                if beat % SEGMENT_EVERY_BEATS == 0:
                    for camera in cameras:
                        add_segment(store, camera, now_ms() - SEGMENT_SECONDS * 1000)
            beat += 1
    finally:
        store.close()
