"""The state file: WAL, migrations by whoever starts first, many writers without loss."""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from nvr.core.errors import StateError
from nvr.core.state import SCHEMA_VERSION, StateStore, now_ms
from nvr.core.tables.events import Severity, record_event

TABLES = {"segments", "validations", "heartbeats", "events", "outbox"}


def test_fresh_file_gets_wal_and_the_schema(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with StateStore.open(path) as store:
        conn = store.read()
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert store.schema_version() == SCHEMA_VERSION
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert names >= TABLES


def test_reopening_is_idempotent_and_keeps_rows(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with StateStore.open(path) as store:
        record_event(
            store, source="test", severity=Severity.INFO, kind="boot", message="first start"
        )
    with StateStore.open(path) as store:
        assert store.schema_version() == SCHEMA_VERSION
        rows = store.read().execute("SELECT kind, message FROM events").fetchall()
    assert [tuple(r) for r in rows] == [("boot", "first start")]


def _open_many(path: str, barrier: multiprocessing.synchronize.Barrier) -> None:
    barrier.wait()
    StateStore.open(path).close()


def test_daemons_starting_together_migrate_once(tmp_path: Path) -> None:
    """Seven daemons start at boot at the same moment on a fresh file."""
    path = str(tmp_path / "state.db")
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(7)
    procs = [ctx.Process(target=_open_many, args=(path, barrier)) for _ in range(7)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(60)
    assert [p.exitcode for p in procs] == [0] * 7
    with StateStore.open(path) as store:
        assert store.schema_version() == SCHEMA_VERSION


ROWS_PER_WRITER = 300


def _writer(path: str, name: str, barrier: multiprocessing.synchronize.Barrier) -> None:
    """Mimic a daemon: read-then-write transactions, the pattern that deadlocks when deferred."""
    store = StateStore.open(path)
    barrier.wait()
    for n in range(ROWS_PER_WRITER):
        with store.write() as conn:
            count = conn.execute("SELECT count(*) FROM events WHERE source = ?", (name,))
            assert count.fetchone()[0] == n
            conn.execute(
                "INSERT INTO events (created_at_ms, source, severity, kind, message)"
                " VALUES (?, ?, 'info', 'test', ?)",
                (now_ms(), name, f"row {n}"),
            )
        if n % 50 == 0:
            store.read().execute("SELECT count(*) FROM events").fetchone()
    store.close()


def test_concurrent_writers_lose_nothing_and_never_see_locked(tmp_path: Path) -> None:
    path = str(tmp_path / "state.db")
    StateStore.open(path).close()
    writers = 6
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(writers)
    procs = [ctx.Process(target=_writer, args=(path, f"w{i}", barrier)) for i in range(writers)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(120)
    # A "database is locked" escaping in a writer makes it exit non-zero.
    assert [p.exitcode for p in procs] == [0] * writers
    with StateStore.open(path) as store:
        rows = store.read().execute(
            "SELECT source, count(*), count(DISTINCT message) FROM events GROUP BY source"
        )
        counts = {r[0]: (r[1], r[2]) for r in rows}
    assert counts == {f"w{i}": (ROWS_PER_WRITER, ROWS_PER_WRITER) for i in range(writers)}


def test_failed_transaction_rolls_back(tmp_path: Path) -> None:
    with StateStore.open(tmp_path / "state.db") as store:
        with pytest.raises(RuntimeError), store.write() as conn:
            conn.execute(
                "INSERT INTO events (created_at_ms, source, severity, kind, message)"
                " VALUES (1, 't', 'info', 'k', 'm')"
            )
            raise RuntimeError("boom")
        assert store.read().execute("SELECT count(*) FROM events").fetchone()[0] == 0


def test_missing_directory_is_one_clear_line(tmp_path: Path) -> None:
    path = tmp_path / "nope" / "state.db"
    with pytest.raises(StateError) as info:
        StateStore.open(path)
    assert str(info.value) == f"state file {path}: directory {path.parent} does not exist"


@pytest.fixture
def unwritable_dir(tmp_path: Path) -> Iterator[Path]:
    """A directory the daemon cannot write: read-only mount as root, chmod otherwise."""
    directory = tmp_path / "ro"
    directory.mkdir()
    if os.geteuid() != 0:
        directory.chmod(stat.S_IRUSR | stat.S_IXUSR)
        yield directory
        return
    # root ignores permission bits, so use what a technician meets: a read-only filesystem.
    subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", directory], check=True)
    try:
        yield directory
    finally:
        subprocess.run(["umount", directory], check=True)


def test_unwritable_directory_is_one_clear_line(unwritable_dir: Path) -> None:
    with pytest.raises(StateError) as info:
        StateStore.open(unwritable_dir / "state.db")
    assert str(info.value) == (
        f"state file {unwritable_dir / 'state.db'}: directory {unwritable_dir} is not writable "
        "(Read-only file system)"
        if os.geteuid() == 0
        else f"state file {unwritable_dir / 'state.db'}: directory {unwritable_dir} is not "
        "writable (Permission denied)"
    )


def test_file_from_newer_software_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(StateError, match="newer than this software"):
        StateStore.open(path)


def test_garbage_file_is_reported_not_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StateError, match=str(path)):
        StateStore.open(path)
    assert path.read_bytes().startswith(b"this is not a database")
