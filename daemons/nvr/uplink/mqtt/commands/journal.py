"""The `commands` table and the `command` reports: each state change is one transaction.

A command's row and the report telling head office about it commit together, so head
office hears of every command that was accepted, refused or finished, exactly as stored
(docs/design/commands.md, invariants 2 and 3).
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from typing import Any

from nvr.core.state import StateStore, now_ms
from nvr.core.tables.outbox import KIND_COMMAND, append
from nvr.core.timeutil import format_ms
from nvr.uplink.mqtt.commands.constants import ACCEPTED
from nvr.uplink.mqtt.commands.wire import Command


@dataclass
class Stored:
    """A command as its row says: what it asked, how far it got, what was last published."""

    command: Command
    state: str
    received_at_ms: int
    progress: dict[str, Any] = field(default_factory=dict)
    result: dict[str, Any] = field(default_factory=dict)

    def save_progress(self, conn: sqlite3.Connection, **changes: Any) -> None:
        """Remember `changes` in the caller's transaction (with the side effect they record)."""
        self.progress = {**self.progress, **changes}
        conn.execute(
            "UPDATE commands SET progress_json = ? WHERE command_id = ?",
            (json.dumps(self.progress), self.command.id),
        )


_COLUMNS = (
    "command_id, origin, action, args_json, state, progress_json, result_json, received_at_ms,"
    " issued_at_ms"
)


def _stored(row: sqlite3.Row | tuple[Any, ...]) -> Stored:
    command_id, origin, action, args, state, progress, result, received, issued = row
    command = Command(
        id=command_id,
        action=action,
        args=json.loads(args),
        issued_at=format_ms(issued) if issued is not None else "",
        origin=origin,
    )
    return Stored(command, state, received, json.loads(progress), json.loads(result))


def find(conn: sqlite3.Connection, command_id: str) -> Stored | None:
    """The stored command with this id, or None."""
    row = conn.execute(
        f"SELECT {_COLUMNS} FROM commands WHERE command_id = ?", (command_id,)
    ).fetchone()
    return _stored(row) if row else None


def unfinished(conn: sqlite3.Connection) -> list[Stored]:
    """Accepted commands that have not finished (to resume after a restart), oldest first."""
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM commands WHERE state = ? ORDER BY received_at_ms",
        (ACCEPTED,),
    ).fetchall()
    return [_stored(row) for row in rows]


def report_body(
    message: dict[str, Any], origin: str, received_at_ms: int, args: dict[str, Any] | None
) -> dict[str, Any]:
    """The body of a `command` report: the published message, where it came from, its args."""
    body = {**message, "origin": origin, "received_at": format_ms(received_at_ms)}
    if args is not None:
        body["args"] = args
    return body


def record(
    store: StateStore,
    site_id: str,
    command: Command,
    message: dict[str, Any],
    *,
    issued_at_ms: int | None,
    progress: dict[str, Any] | None = None,
) -> Stored | None:
    """Store a new command in the state of `message` and report it; None if the id is known.

    The insert never replaces a row: a command id is used once (idempotency), and the
    first genuine command with an id keeps it.
    """
    received = now_ms()
    finished = None if message["state"] == ACCEPTED else received
    with store.write() as conn:
        cursor = conn.execute(
            "INSERT INTO commands (command_id, origin, action, args_json, state, progress_json,"
            " result_json, issued_at_ms, received_at_ms, finished_at_ms)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (command_id) DO NOTHING",
            (
                command.id,
                command.origin,
                command.action,
                json.dumps(command.args),
                message["state"],
                json.dumps(progress or {}),
                json.dumps(message),
                issued_at_ms,
                received,
                finished,
            ),
        )
        if cursor.rowcount != 1:
            return None
        append(
            conn,
            site_id,
            KIND_COMMAND,
            report_body(message, command.origin, received, command.args),
        )
    return Stored(command, message["state"], received, progress or {}, message)


def finish(store: StateStore, site_id: str, stored: Stored, message: dict[str, Any]) -> None:
    """Move a running command to its final state and report it, in one transaction."""
    with store.write() as conn:
        conn.execute(
            "UPDATE commands SET state = ?, result_json = ?, finished_at_ms = ?"
            " WHERE command_id = ?",
            (message["state"], json.dumps(message), now_ms(), stored.command.id),
        )
        append(
            conn,
            site_id,
            KIND_COMMAND,
            report_body(message, stored.command.origin, stored.received_at_ms, stored.command.args),
        )
    stored.state = message["state"]
    stored.result = message


def report_unstored(store: StateStore, site_id: str, message: dict[str, Any], origin: str) -> None:
    """Report a refused command that gets no row (unsigned, forged, or without a usable id)."""
    with store.write() as conn:
        append(conn, site_id, KIND_COMMAND, report_body(message, origin, now_ms(), None))
