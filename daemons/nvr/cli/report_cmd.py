"""`nvrctl report now`: build a status report and append it to the outbox."""

from __future__ import annotations

import argparse
from typing import Any

from nvr.cli.options import add_command
from nvr.core.config import load_config, resolve_path
from nvr.core.state import StateStore, now_ms
from nvr.report.build import enqueue_status


def add_parser(subparsers: Any) -> None:
    """Register `report` and its subcommands."""
    report = subparsers.add_parser("report", help="reports to head office")
    actions = report.add_subparsers(dest="report_action", required=True)
    add_command(actions, "now", "queue a status report for nvr-uplink to deliver", report_now)


def report_now(args: argparse.Namespace) -> int:
    """Append a status report covering the last status interval; print its seq and id."""
    config = load_config(resolve_path(args.config))
    with StateStore.open(config.storage.state_file) as store:
        envelope = enqueue_status(store, config, now_ms())
    print(f"queued status report seq {envelope['seq']} (id {envelope['id']})")
    return 0
