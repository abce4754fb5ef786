"""`nvrctl config check`: validate a config file the same way the daemons do."""

from __future__ import annotations

import argparse
from typing import Any

from nvr.core.config import load_config, resolve_path


def add_parser(subparsers: Any) -> None:
    """Register `config` and its subcommands."""
    config = subparsers.add_parser("config", help="work with the configuration file")
    actions = config.add_subparsers(dest="config_action", required=True)
    check = actions.add_parser("check", help="validate the config; exit 1 with the first error")
    check.add_argument(
        "--config", help="config file (default: $NVR_CONFIG, else /etc/nvr/nvr.yaml)"
    )
    check.set_defaults(func=check_config)


def check_config(args: argparse.Namespace) -> int:
    """Load and validate; print a one-line summary. Errors propagate as ConfigError."""
    path = resolve_path(args.config)
    config = load_config(path)
    enabled = len(config.enabled_cameras)
    print(f"{path}: ok (site {config.site.id}, {len(config.cameras)} cameras, {enabled} enabled)")
    return 0
