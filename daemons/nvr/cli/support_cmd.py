"""`nvrctl support-bundle`: everything support asks for, in one file, without a secret.

nvrctl support-bundle                       ./nvr-support-<site>-<time>.tar.gz
nvrctl support-bundle -o /tmp/ticket-4711.tar.gz
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from nvr.cli.bundle import LOG_DIR, build, write_bundle
from nvr.cli.options import add_command
from nvr.core.config import load_config, resolve_path


def add_parser(subparsers: Any) -> None:
    """Register `support-bundle`."""
    bundle = add_command(
        subparsers,
        "support-bundle",
        "a tar.gz for a support ticket (config redacted, logs, status)",
        run_bundle,
    )
    bundle.add_argument("-o", "--output", type=Path, help="the tar.gz to write")
    bundle.add_argument(
        "--log-dir", type=Path, default=LOG_DIR, help=f"daemon log files (default {LOG_DIR})"
    )


def run_bundle(args: argparse.Namespace) -> int:
    """Collect, write, say where."""
    path = resolve_path(args.config)
    config = load_config(path)
    output = args.output or Path(
        f"nvr-support-{config.site.id}-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.tar.gz"
    )
    members = build(config, path, args.log_dir)
    write_bundle(members, output, config.site.id)
    print(f"support bundle written: {output} ({len(members)} files); attach it to the ticket")
    return 0
