"""`nvrctl outbox`: backlog per destination, the oldest pending report, dead letters."""

from __future__ import annotations

import argparse
import json
from typing import Any

from nvr.cli.options import add_command
from nvr.core.config import Config, load_config, resolve_path
from nvr.core.state import StateStore, now_ms
from nvr.core.tables.outbox import (
    DISPLAY_NAME,
    backlog,
    dead_letters,
    report_destinations,
)
from nvr.core.timeutil import format_local, format_ms

DEAD_LETTERS_SHOWN = 20


def add_parser(subparsers: Any) -> None:
    """Register `outbox`."""
    outbox = add_command(
        subparsers, "outbox", "show the report backlog and dead letters", show_outbox
    )
    outbox.add_argument("--json", action="store_true", help="machine-readable output")


def collect(store: StateStore, config: Config) -> dict[str, Any]:
    """What `nvrctl outbox` shows, as JSON."""
    conn = store.read()
    now = now_ms()
    queues = []
    for name in report_destinations(config):
        queue = backlog(conn, name)
        oldest = queue.oldest_created_at_ms
        queues.append(
            {
                "destination": name,
                "pending": queue.pending,
                "oldest_pending": format_ms(oldest) if oldest is not None else None,
                "oldest_pending_ms": oldest,
                "oldest_age_seconds": round((now - oldest) / 1000) if oldest is not None else None,
                "dead_letters": queue.dead_letters,
            }
        )
    dead = [
        {**dict(row), "created_at": format_ms(row["created_at_ms"])}
        for row in dead_letters(conn, DEAD_LETTERS_SHOWN)
    ]
    total = conn.execute("SELECT count(*) FROM outbox").fetchone()[0]
    return {"outbox_rows": total, "destinations": queues, "dead_letters": dead}


def show_outbox(args: argparse.Namespace) -> int:
    """Print the backlog per destination and the latest dead letters."""
    config = load_config(resolve_path(args.config))
    with StateStore.open(config.storage.state_file) as store:
        data = collect(store, config)
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    if not data["destinations"]:
        print("no destination configured (uplink.head_office, uplink.hse_api)")
    for queue in data["destinations"]:
        line = f"{DISPLAY_NAME[queue['destination']]}: backlog {queue['pending']}"
        if queue["oldest_pending"]:
            oldest = format_local(queue["oldest_pending_ms"])
            line += f", oldest {oldest} ({queue['oldest_age_seconds']}s ago)"
        print(f"{line}, {queue['dead_letters']} dead letters")
    for row in data["dead_letters"]:
        label = DISPLAY_NAME.get(row["destination"], row["destination"])
        print(
            f"dead: {label} seq {row['seq']} {row['kind']} at"
            f" {format_local(row['created_at_ms'])}: {row['error']}"
        )
    return 0
