"""`get_status`: a status report now, built by nvr-report, and the compact status at once.

nvr-uplink does not build reports (nvr-report does, and no daemon imports another): it
inserts a `report_requests` row; nvr-report answers it within a tick with a status report
in the outbox and marks the row with that report's id and seq in the same transaction.
"""

from __future__ import annotations

import sqlite3

from nvr.core.state import StateStore
from nvr.uplink.mqtt.commands.base import Context, Outcome, Plan, expect_args
from nvr.uplink.mqtt.commands.constants import GET_STATUS, REPORT_REQUEST_TIMEOUT_SECONDS
from nvr.uplink.mqtt.commands.journal import Stored
from nvr.uplink.mqtt.commands.status import read_status
from nvr.uplink.mqtt.commands.wire import Command


class GetStatus:
    """Ask nvr-report for a status report and wait for its seq."""

    name = GET_STATUS

    def check(self, command: Command, ctx: Context, conn: sqlite3.Connection, now_ms: int) -> Plan:
        """Takes no arguments."""
        expect_args(command, ())
        return Plan(progress={}, notes={})

    def step(self, store: StateStore, ctx: Context, stored: Stored, now_ms: int) -> Outcome | None:
        """Request the report once; then wait for nvr-report's answer (bounded)."""
        if "request_id" not in stored.progress:
            with store.write() as conn:
                cursor = conn.execute(
                    "INSERT INTO report_requests (reason, requested_at_ms) VALUES (?, ?)",
                    (f"{GET_STATUS} {stored.command.id}", now_ms),
                )
                stored.save_progress(conn, request_id=cursor.lastrowid, requested_at_ms=now_ms)
            return None
        conn = store.read()
        row = conn.execute(
            "SELECT report_id, seq FROM report_requests WHERE id = ? AND done_at_ms IS NOT NULL",
            (stored.progress["request_id"],),
        ).fetchone()
        if row is not None:
            status = read_status(conn, ctx.config, now_ms)
            return Outcome.done(
                {
                    "report_id": row[0],
                    "seq": row[1],
                    "status": status.site,
                    "cameras": status.cameras,
                }
            )
        waited_s = (now_ms - stored.progress["requested_at_ms"]) / 1000
        if waited_s > REPORT_REQUEST_TIMEOUT_SECONDS:
            return Outcome.failed(
                f"nvr-report did not answer within {REPORT_REQUEST_TIMEOUT_SECONDS} s"
                " (is it running?)"
            )
        return None
