"""The state file: the one SQLite database every daemon shares.

This module owns the schema, the migrations, the pragmas and the connection factory; no
other module sets a pragma or creates a table. See docs/design/state.md.

Concurrency: WAL lets readers and one writer proceed together. Every write transaction
starts with BEGIN IMMEDIATE, which takes the write lock up front, so SQLite's busy handler
(busy_timeout) can wait for it; a deferred transaction that reads first and writes later can
fail at once with "database is locked" (SQLite refuses to wait when waiting could
deadlock). On top of busy_timeout, `write()` retries a few times so a long checkpoint or a
slow disk does not surface as an error.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from nvr.core.errors import StateError

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 5_000
WRITE_ATTEMPTS = 8
RETRY_PAUSE_SECONDS = 0.05

# Each entry migrates from version N (its index) to N+1. Append only; never edit a
# released migration: boxes in the field have already applied it.
MIGRATIONS: tuple[str, ...] = (
    # 0 → 1: the tables every daemon issue builds on.
    """
    CREATE TABLE segments (
        id            INTEGER PRIMARY KEY,
        camera        TEXT    NOT NULL,
        path          TEXT    NOT NULL UNIQUE,   -- relative to storage.recordings_dir
        start_ms      INTEGER NOT NULL,          -- UTC epoch milliseconds
        end_ms        INTEGER NOT NULL,
        bytes         INTEGER NOT NULL,
        sha256        TEXT,                      -- of the file's content
        chain_sha256  TEXT,                      -- sha256(previous chain || sha256)
        status        TEXT    NOT NULL DEFAULT 'ok'
                      CHECK (status IN ('ok', 'missing', 'quarantined')),
        created_at_ms INTEGER NOT NULL
    );
    CREATE INDEX segments_camera_start ON segments (camera, start_ms);
    CREATE INDEX segments_start ON segments (start_ms);
    -- The camera's newest row by insertion order: where its hash chain continues.
    CREATE INDEX segments_camera_id ON segments (camera, id);

    -- One row per ffmpeg run of a camera; the gaps between runs carry the reason the
    -- previous run ended (camera offline, auth failed, disk not mounted, ...).
    CREATE TABLE recording_runs (
        id            INTEGER PRIMARY KEY,
        camera        TEXT    NOT NULL,
        started_at_ms INTEGER NOT NULL,
        ended_at_ms   INTEGER,
        end_reason    TEXT
    );
    CREATE INDEX recording_runs_camera_start ON recording_runs (camera, started_at_ms);

    -- Deletion goes row -> garbage, unlink, drop garbage row: a crash at any step is
    -- finished at start-up (docs/design/disk.md).
    CREATE TABLE garbage (
        id            INTEGER PRIMARY KEY,
        camera        TEXT    NOT NULL,
        path          TEXT    NOT NULL,
        bytes         INTEGER NOT NULL,
        start_ms      INTEGER NOT NULL,
        reason        TEXT    NOT NULL,          -- retention, watermark, reconcile
        queued_at_ms  INTEGER NOT NULL
    );

    -- Evidence: time ranges the janitor must never delete.
    CREATE TABLE protections (
        id            INTEGER PRIMARY KEY,
        camera        TEXT    NOT NULL,
        from_ms       INTEGER NOT NULL,
        to_ms         INTEGER NOT NULL,
        reason        TEXT    NOT NULL,
        created_at_ms INTEGER NOT NULL
    );
    CREATE INDEX protections_camera ON protections (camera, from_ms);

    CREATE TABLE validations (
        id            INTEGER PRIMARY KEY,
        camera        TEXT    NOT NULL,
        check_name    TEXT    NOT NULL,
        status        TEXT    NOT NULL CHECK (status IN ('ok', 'warn', 'fail')),
        reason        TEXT    NOT NULL DEFAULT '',
        values_json   TEXT    NOT NULL DEFAULT '{}',
        checked_at_ms INTEGER NOT NULL
    );
    CREATE INDEX validations_camera_time ON validations (camera, checked_at_ms);

    CREATE TABLE heartbeats (
        daemon        TEXT    PRIMARY KEY,
        pid           INTEGER NOT NULL,
        state         TEXT    NOT NULL,          -- starting, running, degraded, stopping
        status        TEXT    NOT NULL DEFAULT '',
        detail_json   TEXT    NOT NULL DEFAULT '{}',
        started_at_ms INTEGER NOT NULL,
        updated_at_ms INTEGER NOT NULL,
        interval_ms   INTEGER NOT NULL           -- how often this daemon promises to beat
    );

    CREATE TABLE events (
        id            INTEGER PRIMARY KEY,
        created_at_ms INTEGER NOT NULL,
        source        TEXT    NOT NULL,          -- the daemon that saw it
        severity      TEXT    NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
        kind          TEXT    NOT NULL,          -- e.g. camera_offline, disk_high_watermark
        camera        TEXT,
        message       TEXT    NOT NULL,
        data_json     TEXT    NOT NULL DEFAULT '{}'
    );
    CREATE INDEX events_time ON events (created_at_ms);

    -- Reports waiting for nvr-uplink (docs/design/outbox.md). AUTOINCREMENT: ids are never
    -- reused, because each destination's cursor is an outbox id.
    CREATE TABLE outbox (
        id            INTEGER PRIMARY KEY AUTOINCREMENT,
        report_id     TEXT    NOT NULL UNIQUE,   -- UUID, the idempotency key
        site_id       TEXT    NOT NULL,
        seq           INTEGER NOT NULL,          -- per site, gapless (outbox_seq)
        kind          TEXT    NOT NULL,
        priority      INTEGER NOT NULL,          -- overflow drops the lowest first
        created_at_ms INTEGER NOT NULL,
        bytes         INTEGER NOT NULL,          -- length of envelope_json, for the bound
        envelope_json TEXT    NOT NULL,
        UNIQUE (site_id, seq)
    );
    CREATE INDEX outbox_priority ON outbox (priority, id, bytes);

    -- nvr-validator tables (owned by daemons/nvr/validator).
    -- A camera's picture as it looked in its first good checks; blur and tamper checks
    -- compare against it (docs/design/validation.md).
    CREATE TABLE validator_baselines (
        camera        TEXT    PRIMARY KEY,
        sharpness     REAL    NOT NULL,          -- median tile var(Laplacian)/var(luma)
        detail        REAL    NOT NULL,          -- median tile luma standard deviation
        samples       INTEGER NOT NULL,          -- good checks averaged so far
        updated_at_ms INTEGER NOT NULL
    );

    -- end of nvr-validator tables.

    -- nvr-report / nvr-uplink tables (owned by daemons/nvr/report and daemons/nvr/uplink).
    -- The last seq given per site: kept apart from the outbox, whose rows are pruned.
    CREATE TABLE outbox_seq (
        site_id       TEXT    PRIMARY KEY,
        last_seq      INTEGER NOT NULL
    );
    -- Per destination: every outbox row with id <= last_id is delivered or dead.
    CREATE TABLE uplink_cursors (
        destination   TEXT    PRIMARY KEY,
        last_id       INTEGER NOT NULL,
        updated_at_ms INTEGER NOT NULL
    );
    -- Reports a destination refused (4xx other than 408/429); kept for `nvrctl outbox`.
    CREATE TABLE dead_letters (
        id            INTEGER PRIMARY KEY,
        destination   TEXT    NOT NULL,
        outbox_id     INTEGER NOT NULL,
        report_id     TEXT    NOT NULL,
        seq           INTEGER NOT NULL,
        kind          TEXT    NOT NULL,
        status_code   INTEGER,
        error         TEXT    NOT NULL,
        envelope_json TEXT    NOT NULL,
        created_at_ms INTEGER NOT NULL
    );
    CREATE INDEX dead_letters_destination ON dead_letters (destination, id);
    -- nvr-report's own progress: event cursor, last daily summary, daemon start times.
    CREATE TABLE report_state (
        key           TEXT    PRIMARY KEY,
        value         TEXT    NOT NULL
    );

    -- end of nvr-report / nvr-uplink tables.
    """,
    # 1 → 2: objects for MinIO, commands from the centre, report requests.
    """
    -- Files waiting for MinIO (docs/design/objects.md): event snapshots, requested clips,
    -- offsite copies of segments. A row is the durable promise to upload; (bucket, key) is
    -- the idempotency key. Spool files (owned = 1) are deleted once uploaded. Only
    -- nvr-uplink changes a row after it is inserted.
    CREATE TABLE uploads (
        id            INTEGER PRIMARY KEY,
        bucket        TEXT    NOT NULL,
        object_key    TEXT    NOT NULL,
        path          TEXT    NOT NULL,          -- absolute local path
        sha256        TEXT,                      -- of the file; NULL = hash at upload
        bytes         INTEGER,
        kind          TEXT    NOT NULL,          -- snapshot, clip, offsite
        priority      INTEGER NOT NULL,          -- lower goes first
        camera        TEXT,
        segment_id    INTEGER,                   -- offsite copies: segments.id
        start_ms      INTEGER,                   -- what the file shows (offsite: the
        end_ms        INTEGER,                   -- segment's times); "how far behind"
        owned         INTEGER NOT NULL DEFAULT 0,
        command_id    TEXT,                      -- the command that asked for it
        state         TEXT    NOT NULL DEFAULT 'pending'
                      CHECK (state IN ('pending', 'done', 'lost')),
        attempts      INTEGER NOT NULL DEFAULT 0,
        last_error    TEXT    NOT NULL DEFAULT '',  -- why the last attempt failed / it is lost
        created_at_ms INTEGER NOT NULL,
        done_at_ms    INTEGER,                   -- when it left the queue: done or lost
        UNIQUE (bucket, object_key)
    );
    CREATE INDEX uploads_pending ON uploads (state, priority, id);
    CREATE INDEX uploads_segment ON uploads (segment_id);
    -- Per camera figures of reports: pending, and done or lost within a period.
    CREATE INDEX uploads_camera ON uploads (camera, kind, state, done_at_ms);
    -- Counted in the transaction that takes a row out of the queue, so "copied in total"
    -- and "lost in total" survive the pruning of finished rows (kept a week).
    CREATE TABLE upload_totals (
        camera        TEXT    NOT NULL,          -- '' for files of no camera
        kind          TEXT    NOT NULL,
        state         TEXT    NOT NULL,          -- done, lost
        files         INTEGER NOT NULL,
        bytes         INTEGER NOT NULL,
        PRIMARY KEY (camera, kind, state)
    );

    -- Commands from head office / the HSE platform (docs/design/commands.md). The id
    -- makes them idempotent. Only signed commands get a row, so a forged command cannot
    -- take (or overwrite) a genuine id. progress_json holds what a restart needs to resume
    -- an accepted command (its protection, its object); result_json is the last message
    -- published for it.
    CREATE TABLE commands (
        command_id    TEXT    PRIMARY KEY,
        origin        TEXT    NOT NULL,          -- mqtt
        action        TEXT    NOT NULL,
        args_json     TEXT    NOT NULL DEFAULT '{}',
        state         TEXT    NOT NULL
                      CHECK (state IN ('accepted', 'rejected', 'done', 'failed')),
        progress_json TEXT    NOT NULL DEFAULT '{}',
        result_json   TEXT    NOT NULL DEFAULT '{}',
        issued_at_ms  INTEGER,
        received_at_ms INTEGER NOT NULL,
        finished_at_ms INTEGER
    );
    CREATE INDEX commands_open ON commands (received_at_ms) WHERE state = 'accepted';

    -- "A status report now", asked of nvr-report by whoever needs one (get_status).
    -- nvr-report answers every open request with one report and marks them in the same
    -- transaction as the report's outbox row.
    CREATE TABLE report_requests (
        id            INTEGER PRIMARY KEY,
        reason        TEXT    NOT NULL,
        requested_at_ms INTEGER NOT NULL,
        report_id     TEXT,                      -- set by nvr-report when built
        seq           INTEGER,
        done_at_ms    INTEGER
    );
    CREATE INDEX report_requests_open ON report_requests (id) WHERE done_at_ms IS NULL;

    -- Set by the runtime when a daemon starts after a predecessor that never said
    -- "stopped" (kill -9, crash, power loss): /health holds it critical for a while, since
    -- a supervisor restarts it before its heartbeat could go stale.
    ALTER TABLE heartbeats ADD COLUMN crashed_at_ms INTEGER;
    """,
    # 2 → 3: what nvr-backup learned about a camera's media, so a restart does not re-learn
    # it at the cost of lost video, and so the validator and the liveness probe talk to the
    # camera the way the recorder does (nvr.core.camera_media).
    """
    CREATE TABLE camera_media (
        camera              TEXT    PRIMARY KEY,
        rtsp_transport      TEXT,                -- tcp / udp: what last worked (auto mode)
        audio_refused_codec TEXT,                -- audio codec the container refused, if any
        updated_at_ms       INTEGER NOT NULL
    );
    """,
    # (evidence-chain) the hash chain survives deletions: nvr-hddmon keeps a deleted
    # segment's hash and chain link, so `nvrctl recordings verify` and a clip manifest can
    # still follow the chain across it (docs/design/evidence.md, invariant 2).
    """
    CREATE TABLE segment_tombstones (
        segment_id    INTEGER PRIMARY KEY,       -- the deleted segments.id (chain order)
        camera        TEXT    NOT NULL,
        path          TEXT    NOT NULL,
        start_ms      INTEGER NOT NULL,
        end_ms        INTEGER NOT NULL,
        sha256        TEXT    NOT NULL,
        chain_sha256  TEXT,                      -- NULL for a quarantined (unchained) row
        status        TEXT    NOT NULL,          -- the row's status when it was deleted
        reason        TEXT    NOT NULL,          -- retention, watermark, ...
        deleted_at_ms INTEGER NOT NULL
    );
    CREATE INDEX segment_tombstones_camera ON segment_tombstones (camera, segment_id);
    -- The chain head each signed clip manifest reaches: status reports re-send the recent
    -- ones, so head office can anchor a clip exported between two reports.
    CREATE TABLE manifest_heads (
        camera        TEXT    NOT NULL,
        segment_id    INTEGER NOT NULL,
        chain_sha256  TEXT    NOT NULL,
        start_ms      INTEGER NOT NULL,
        created_at_ms INTEGER NOT NULL,
        PRIMARY KEY (camera, segment_id)
    );
    -- Chain heads nvr-report put into status reports (in the report's transaction): a
    -- manifest's links need to reach only the first one after its clip.
    CREATE TABLE reported_heads (
        camera         TEXT    NOT NULL,
        segment_id     INTEGER NOT NULL,
        reported_at_ms INTEGER NOT NULL,
        PRIMARY KEY (camera, segment_id)
    );
    -- segments.id is the chain order, but SQLite reuses the ids of deleted newest rows
    -- (no AUTOINCREMENT). A new row never gets an id at or below a tombstone's.
    CREATE TRIGGER segments_id_after_tombstones AFTER INSERT ON segments
    WHEN NEW.id <= (SELECT coalesce(max(segment_id), 0) FROM segment_tombstones)
    BEGIN
        UPDATE segments SET id = (SELECT max(segment_id) FROM segment_tombstones) + 1
        WHERE id = NEW.id;
    END;
    """,
    # (security) failed viewer logins, so a restart of nvr-livestream or nvr-health does
    # not reset a guesser's budget (docs/design/security.md, invariant 1;
    # nvr.core.login_journal). Rows older than the throttle's window are deleted.
    """
    CREATE TABLE login_failures (
        service TEXT    NOT NULL,                -- the daemon that counted it (reads its own)
        kind    TEXT    NOT NULL,                -- client / account
        key     TEXT    NOT NULL,                -- digest of the address or user name tried
        at_ms   INTEGER NOT NULL
    );
    CREATE INDEX login_failures_service_at ON login_failures (service, at_ms);
    """,
    # (hse-box) the alarm messages nvr-hse sends the HSE backend (WebSocket) and nvr-uplink
    # publishes on MQTT, numbered for replay; and where each reader of them has got to.
    # See docs/design/hse.md.
    """
    CREATE TABLE hse_alarms (
        id            INTEGER PRIMARY KEY AUTOINCREMENT,  -- the replay cursor; never reused
        event_id      INTEGER NOT NULL UNIQUE,   -- the events row it was made from
        alarm_id      INTEGER,                   -- a follow-up (clip): the alarm's id
        created_at_ms INTEGER NOT NULL,
        message_json  TEXT    NOT NULL           -- the message as sent, without its id
    );
    CREATE INDEX hse_alarms_time ON hse_alarms (created_at_ms);
    CREATE TABLE hse_cursors (
        name          TEXT    PRIMARY KEY,       -- events (nvr-hse), mqtt (nvr-uplink)
        last_id       INTEGER NOT NULL
    );
    """,
    # (hse-edge) event clips: one row per alarm, from its discovery (with the protection of
    # its range) to the clip in MinIO and its follow-up event (docs/design/hse-edge.md).
    # Its event cursors (`alarm_clips`, `socketio_alerts`) are rows of hse_cursors.
    """
    CREATE TABLE alarm_clips (
        event_id      INTEGER PRIMARY KEY,       -- the alarm's events.id
        camera        TEXT    NOT NULL,
        from_ms       INTEGER NOT NULL,          -- alarm - before_seconds
        to_ms         INTEGER NOT NULL,          -- alarm + after_seconds
        protection_id INTEGER NOT NULL,
        state         TEXT    NOT NULL DEFAULT 'waiting'
                      CHECK (state IN ('waiting', 'uploading', 'done', 'failed')),
        bucket        TEXT,                      -- set with the export, in its transaction
        object_key    TEXT,
        bytes         INTEGER,
        sha256        TEXT,
        missing_json  TEXT    NOT NULL DEFAULT '[]',  -- gaps of the range, with reasons
        error         TEXT    NOT NULL DEFAULT '',
        clip_event_id INTEGER,                   -- the alarm_clip follow-up event
        created_at_ms INTEGER NOT NULL,
        finished_at_ms INTEGER
    );
    CREATE INDEX alarm_clips_open ON alarm_clips (event_id)
        WHERE state IN ('waiting', 'uploading');
    """,
    # (picture) One baseline per camera and picture mode (day, night, ir): a camera that
    # switches to infrared at dusk is compared with its infrared picture, not its day one
    # (docs/design/validation.md, invariant 11). The old baselines are dropped, not
    # copied: they hold another sharpness measure; cameras learn again in 3 checks.
    """
    CREATE TABLE validator_mode_baselines (
        camera        TEXT    NOT NULL,
        mode          TEXT    NOT NULL,          -- day, night, ir
        sharpness     REAL    NOT NULL,          -- edge slope against edge contrast
        detail        REAL    NOT NULL,          -- 75th percentile denoised tile std
        samples       INTEGER NOT NULL,          -- checks averaged so far
        overlay_tiles TEXT    NOT NULL,          -- JSON list: tiles changing in every check (OSD)
        updated_at_ms INTEGER NOT NULL,
        PRIMARY KEY (camera, mode)
    );
    DROP TABLE validator_baselines;
    """,
    # (operations) which config each daemon loaded, or why it refused one: a rejected
    # reload or a start refused by a broken file shows in /health and `nvrctl status`, and
    # `nvrctl config apply` reports which daemon accepted the file (nvr.core.configloads).
    """
    CREATE TABLE config_loads (
        daemon    TEXT    PRIMARY KEY,
        outcome   TEXT    NOT NULL,               -- accepted / rejected / refused
        path      TEXT    NOT NULL,
        sha256    TEXT,                           -- of the file's bytes; NULL if unreadable
        error     TEXT,                           -- the one-line ConfigError, redacted
        at_ms     INTEGER NOT NULL
    );
    """,
)

SCHEMA_VERSION = len(MIGRATIONS)


def now_ms() -> int:
    """Current UTC time in integer milliseconds, the unit of every *_ms column."""
    return time.time_ns() // 1_000_000


def _is_busy(err: sqlite3.OperationalError) -> bool:
    text = str(err).lower()
    return "locked" in text or "busy" in text


class StateStore:
    """A handle on the state file for one thread.

    sqlite3 connections must not be shared across threads; a daemon that writes from
    several threads opens one StateStore per thread (they are cheap).
    """

    def __init__(self, path: Path, conn: sqlite3.Connection) -> None:
        self.path = path
        self._conn = conn

    @classmethod
    def open(cls, path: str | Path) -> StateStore:
        """Open (creating if needed) and migrate the state file.

        Raises StateError with one line naming the path when the directory is missing or
        not writable, or the file is not a database.
        """
        path = Path(path)
        _check_directory(path)
        try:
            conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        except sqlite3.Error as err:
            raise StateError(f"state file {path}: cannot open: {err}") from err
        store = cls(path, conn)
        try:
            store._configure()
            store._migrate()
        except sqlite3.DatabaseError as err:
            conn.close()
            raise StateError(f"state file {path}: {err}") from err
        return store

    def close(self) -> None:
        """Close the connection."""
        self._conn.close()

    def __enter__(self) -> StateStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _configure(self) -> None:
        conn = self._conn
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        # WAL is a property of the file; setting it again is a no-op. Several daemons can
        # race here on a fresh file, so retry like any write.
        self._retry(lambda: conn.execute("PRAGMA journal_mode = WAL").fetchone())
        # FULL: a committed report or segment row survives power loss. The write rate
        # (a few rows per second at most) makes the extra fsync cheap.
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA foreign_keys = ON")

    def _migrate(self) -> None:
        version = self.schema_version()
        if version == SCHEMA_VERSION:
            return
        if version > SCHEMA_VERSION:
            raise StateError(
                f"state file {self.path}: schema version {version} is newer than this "
                f"software ({SCHEMA_VERSION}); upgrade the nvr package"
            )
        with self._transaction("EXCLUSIVE") as conn:
            # Re-read under the lock: another daemon may have migrated meanwhile.
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            for target in range(version, SCHEMA_VERSION):
                log.info("state file %s: migrating schema %d -> %d", self.path, target, target + 1)
                for statement in split_statements(MIGRATIONS[target]):
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def schema_version(self) -> int:
        """The schema version stored in the file."""
        return int(self._conn.execute("PRAGMA user_version").fetchone()[0])

    @contextlib.contextmanager
    def _transaction(self, mode: str) -> Iterator[sqlite3.Connection]:
        self._retry(lambda: self._conn.execute(f"BEGIN {mode}"))
        try:
            yield self._conn
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        else:
            self._retry(lambda: self._conn.execute("COMMIT"))

    def write(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        """A short write transaction: `with store.write() as conn: conn.execute(...)`."""
        return self._transaction("IMMEDIATE")

    def read(self) -> sqlite3.Connection:
        """The connection, for reads outside a transaction (each statement is consistent)."""
        return self._conn

    def _retry(self, action: Callable[[], object]) -> None:
        for attempt in range(1, WRITE_ATTEMPTS + 1):
            try:
                action()
                return
            except sqlite3.OperationalError as err:
                if not _is_busy(err) or attempt == WRITE_ATTEMPTS:
                    raise StateError(f"state file {self.path}: {err}") from err
                log.warning(
                    "state file %s busy (attempt %d/%d), retrying",
                    self.path,
                    attempt,
                    WRITE_ATTEMPTS,
                )
                # Some busy answers (switching to WAL, a lock upgrade that could deadlock)
                # come back at once without SQLite's busy handler: wait a little ourselves.
                time.sleep(RETRY_PAUSE_SECONDS * attempt)


def split_statements(script: str) -> list[str]:
    """Split a migration into statements.

    executescript() would COMMIT our EXCLUSIVE transaction first, so statements run one
    by one; sqlite3.complete_statement knows about comments and string literals.
    """
    statements: list[str] = []
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            statements.append(pending.strip())
            pending = ""
    if pending.strip():
        statements.append(pending.strip())
    return statements


def _check_directory(path: Path) -> None:
    directory = path.parent
    if not directory.is_dir():
        raise StateError(f"state file {path}: directory {directory} does not exist")
    probe = directory / f".nvr-write-test-{time.monotonic_ns()}"
    try:
        probe.touch()
        probe.unlink()
    except OSError as err:
        raise StateError(
            f"state file {path}: directory {directory} is not writable ({err.strerror})"
        ) from err
