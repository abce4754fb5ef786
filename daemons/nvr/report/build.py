"""Enqueue status and daily summary reports (used by the daemon and `nvrctl report now`)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from nvr.core.chain import note_reported_heads
from nvr.core.config import Config
from nvr.core.state import StateStore
from nvr.core.tables.outbox import KIND_DAILY_SUMMARY, KIND_STATUS, append
from nvr.core.timesync import probe_time_sync
from nvr.report.constants import MS_PER_MINUTE
from nvr.report.status import daily_body, status_body

# Extra writes inside the status report's transaction: (connection, envelope).
Also = Callable[[sqlite3.Connection, dict[str, Any]], None]


def enqueue_status(
    store: StateStore, config: Config, now_ms: int, also: Also | None = None
) -> dict[str, Any]:
    """Build the status report for the last interval and append it; return the envelope.

    `also` runs in the append's transaction with the envelope, for bookkeeping that must
    commit with the report or not at all (answering report requests).
    """
    from_ms = now_ms - config.report.status_interval_minutes * MS_PER_MINUTE
    body = status_body(store.read(), config, from_ms, now_ms)
    # Evidence timestamps depend on the clock: head office sees whether it is synchronised.
    body["clock"] = probe_time_sync().to_json()
    with store.write() as conn:
        envelope = append(conn, config.site.id, KIND_STATUS, body)
        note_reported_heads(conn, body["evidence"]["chain_heads"], now_ms)
        if also is not None:
            also(conn, envelope)
        return envelope


def previous_local_day(now: datetime) -> tuple[int, int]:
    """[start, end) in UTC ms of the local calendar day before `now` (aware datetime)."""
    local = now.astimezone()
    end = local.replace(hour=0, minute=0, second=0, microsecond=0)
    start = (end - timedelta(days=1)).replace(hour=0)
    return int(start.timestamp() * 1000), int(end.timestamp() * 1000)


def enqueue_daily(store: StateStore, config: Config, now: datetime) -> dict[str, Any]:
    """Build yesterday's summary (local day) and append it; return the envelope."""
    from_ms, to_ms = previous_local_day(now)
    body = daily_body(store.read(), config, from_ms, to_ms)
    body["day"] = datetime.fromtimestamp(from_ms / 1000).astimezone().date().isoformat()
    with store.write() as conn:
        return append(conn, config.site.id, KIND_DAILY_SUMMARY, body)
