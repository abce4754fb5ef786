"""The two database engines of the report store: embedded SQLite and PostgreSQL.

The store's SQL and its steps are written once (nvr_headoffice.store) with `?` placeholders
and portable syntax (`INSERT ... ON CONFLICT`, CASE instead of two-argument max/min). An
engine differs only where the engines must (docs/design/headoffice.md, "Engines"):
connecting, placeholders, column types, where the schema version lives, how migrations
are serialised, and how a writer locks a site (invariant 9).

`--database` selects one: `postgresql://user@host:port/db` (or `postgres://`) is
PostgreSQL through a psycopg_pool connection pool; a path or `sqlite:///path` is SQLite.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import psycopg
import psycopg_pool

from nvr.core.redact import redact_text
from nvr.core.state import split_statements
from nvr_headoffice.constants import (
    BUSY_TIMEOUT_MS,
    PG_CONNECT_TIMEOUT_SECONDS,
    PG_MIGRATION_LOCK,
    PG_POOL_MAX,
    PG_POOL_MIN,
)
from nvr_headoffice.errors import DatabaseError

POSTGRES_SCHEMES = ("postgresql", "postgres")
SQLITE_PREFIX = "sqlite:///"


class Cursor(Protocol):
    """What the store reads from a statement: the same on both drivers."""

    @property
    def rowcount(self) -> int:
        """Rows the statement changed."""

    def fetchone(self) -> Any:
        """The next row, or None."""

    def fetchall(self) -> list[Any]:
        """The remaining rows."""


class Conn:
    """A connection of either engine that takes `?` placeholders."""

    def __init__(self, raw: Any, translate: Callable[[str], str]) -> None:
        self._raw = raw
        self._translate = translate

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        """Run one statement."""
        cursor: Cursor = self._raw.execute(self._translate(sql), params)
        return cursor

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run one statement per row (nothing when there are none)."""
        if rows:
            self._raw.cursor().executemany(self._translate(sql), rows)


def _same(sql: str) -> str:
    return sql


@functools.lru_cache(maxsize=256)
def _pyformat(sql: str) -> str:
    """`?` to psycopg's `%s` (our SQL has no `?` or `%` inside string literals)."""
    return sql.replace("%", "%%").replace("?", "%s")


class Engine:
    """What the store needs of a database; one subclass per engine."""

    # Appended to the SELECT of a site's row in a write transaction (invariant 9).
    lock_site = ""
    # The exceptions that mean "the database failed" (answered 503, the site retries).
    errors: tuple[type[Exception], ...] = ()

    @property
    def name(self) -> str:
        """The database as logs and errors may show it (never a password)."""
        raise NotImplementedError

    def connect(self) -> contextlib.AbstractContextManager[Conn]:
        """A connection for reading, in autocommit."""
        raise NotImplementedError

    def transaction(self) -> contextlib.AbstractContextManager[Conn]:
        """A connection in a write transaction, committed when the block ends."""
        raise NotImplementedError

    def migrate(self, migrations: Sequence[str]) -> None:
        """Bring the schema to len(migrations), once, whoever starts first (invariant 12)."""
        raise NotImplementedError

    def close(self) -> None:
        """Release the connections."""


def _apply(
    conn: Conn, name: str, version: int, migrations: Sequence[str], ddl: Callable[[str], str]
) -> None:
    """Run the migrations after `version` (the caller holds the migration lock)."""
    if version > len(migrations):
        raise DatabaseError(
            f"database {name}: schema version {version} is newer than this software"
            f" ({len(migrations)}); upgrade nvr-tools"
        )
    for target in range(version, len(migrations)):
        for statement in split_statements(migrations[target]):
            conn.execute(ddl(statement))


class SQLiteEngine(Engine):
    """The embedded default: one file, WAL, synchronous=FULL, one connection per call."""

    errors = (sqlite3.Error,)

    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def name(self) -> str:
        """The file's path."""
        return str(self.path)

    def check(self) -> None:
        """The directory exists and takes the -wal and -shm files beside the database."""
        if not self.path.parent.is_dir():
            raise DatabaseError(
                f"database {self.path}: directory {self.path.parent} does not exist"
            )
        if not os.access(self.path.parent, os.W_OK | os.X_OK):
            raise DatabaseError(
                f"database {self.path}: directory {self.path.parent} is not writable"
            )

    @contextlib.contextmanager
    def connect(self) -> Iterator[Conn]:
        """A connection of its own: the WSGI threads never share one."""
        raw = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        try:
            raw.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            # FULL: the commit is on disk before the 200 leaves (invariant 2).
            raw.execute("PRAGMA synchronous = FULL")
            yield Conn(raw, _same)
        finally:
            raw.close()

    @contextlib.contextmanager
    def _begin(self, mode: str) -> Iterator[Conn]:
        with self.connect() as conn:
            conn.execute(f"BEGIN {mode}")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def transaction(self) -> contextlib.AbstractContextManager[Conn]:
        """BEGIN IMMEDIATE: writers serialise on SQLite's write lock (invariant 9)."""
        return self._begin("IMMEDIATE")

    def migrate(self, migrations: Sequence[str]) -> None:
        """Under BEGIN EXCLUSIVE; the version is `PRAGMA user_version`."""
        self.check()
        try:
            with self.connect() as conn:
                # WAL is a property of the file: set once here, kept by every connection.
                conn.execute("PRAGMA journal_mode = WAL").fetchone()
            with self._begin("EXCLUSIVE") as conn:
                version = conn.execute("PRAGMA user_version").fetchone()[0]
                _apply(conn, self.name, version, migrations, _same)
                conn.execute(f"PRAGMA user_version = {len(migrations)}")
        except sqlite3.Error as err:
            raise DatabaseError(f"database {self.path}: {err}") from err


def _bigint(statement: str) -> str:
    """PostgreSQL's INTEGER is 32-bit; SQLite's (and our seqs and times in ms) are 64."""
    return re.sub(r"\bINTEGER\b", "BIGINT", statement)


class PostgresEngine(Engine):
    """PostgreSQL through a connection pool; several processes may share the database."""

    # The site's row, locked until commit: two processes taking reports of one site place
    # their seqs one after the other (invariant 9).
    lock_site = " FOR UPDATE"
    errors = (psycopg.Error, psycopg_pool.PoolTimeout)

    def __init__(self, url: str, application_name: str) -> None:
        self.url = url
        self.application_name = application_name
        self._pool: psycopg_pool.ConnectionPool[psycopg.Connection[Any]] | None = None
        parts = urlsplit(url)
        try:
            port = parts.port
        except ValueError:
            raise DatabaseError(f"--database {self.name}: the port is not a number") from None
        self.host = (parts.hostname or "localhost") + ("" if port is None else f":{port}")

    @property
    def name(self) -> str:
        """The URL without its password, nor a query string (which may carry one)."""
        return redact_text(self.url.split("?", 1)[0])

    def _unreachable(self, err: Exception) -> DatabaseError:
        # libpq's first line says what failed; the next ones are hints.
        lines = [line.strip() for line in str(err).splitlines() if line.strip()]
        reason = redact_text(lines[0]) if lines else type(err).__name__
        return DatabaseError(
            f"--database {self.name}: cannot use PostgreSQL at {self.host}: {reason}"
        )

    def _pool_or_open(self) -> psycopg_pool.ConnectionPool[psycopg.Connection[Any]]:
        # Opened lazily, in the process that serves: a pool's threads do not survive fork().
        if self._pool is None:
            self._pool = psycopg_pool.ConnectionPool(
                self.url,
                min_size=PG_POOL_MIN,
                max_size=PG_POOL_MAX,
                kwargs={"autocommit": True, "application_name": self.application_name},
                timeout=PG_CONNECT_TIMEOUT_SECONDS,
                name="headoffice",
                open=True,
            )
        return self._pool

    @contextlib.contextmanager
    def connect(self) -> Iterator[Conn]:
        """A pooled connection in autocommit."""
        with self._pool_or_open().connection() as raw:
            yield Conn(raw, _pyformat)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Conn]:
        """READ COMMITTED; the site's row is locked FOR UPDATE by the store (invariant 9)."""
        with self._pool_or_open().connection() as raw, raw.transaction():
            yield Conn(raw, _pyformat)

    def migrate(self, migrations: Sequence[str]) -> None:
        """Under an advisory lock, in one transaction (PostgreSQL's DDL is transactional)."""
        try:
            with (
                psycopg.connect(
                    self.url, autocommit=True, connect_timeout=PG_CONNECT_TIMEOUT_SECONDS
                ) as raw,
                raw.transaction(),
            ):
                conn = Conn(raw, _pyformat)
                conn.execute("SELECT pg_advisory_xact_lock(?)", (PG_MIGRATION_LOCK,))
                conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
                row = conn.execute("SELECT version FROM schema_version").fetchone()
                version = 0 if row is None else int(row[0])
                _apply(conn, self.name, version, migrations, _bigint)
                conn.execute("DELETE FROM schema_version")
                conn.execute("INSERT INTO schema_version (version) VALUES (?)", (len(migrations),))
        except psycopg.Error as err:
            raise self._unreachable(err) from None

    def close(self) -> None:
        """Close the pool (its connections and threads)."""
        if self._pool is not None:
            self._pool.close()
            self._pool = None


def open_engine(database: str, application_name: str = "nvr-headoffice") -> Engine:
    """The engine `--database` names: a PostgreSQL URL, `sqlite:///PATH` or a path."""
    scheme = database.partition("://")[0].lower() if "://" in database else ""
    if scheme in POSTGRES_SCHEMES:
        return PostgresEngine(database, application_name)
    if database.startswith(SQLITE_PREFIX):
        return SQLiteEngine(Path(database.removeprefix(SQLITE_PREFIX)))
    if scheme:
        raise DatabaseError(
            f"--database {redact_text(database)}: expected a path, sqlite:///PATH or"
            " postgresql://USER@HOST:PORT/DATABASE"
        )
    return SQLiteEngine(Path(database))
