"""Options several nvrctl commands share, so each reads and is explained the same way."""

from __future__ import annotations

import argparse

CONFIG_HELP = "config file (default: $NVR_CONFIG, else /etc/nvr/nvr.yaml)"


def add_config_option(parser: argparse.ArgumentParser) -> None:
    """`--config FILE`: which nvr.yaml (load_config resolves the default)."""
    parser.add_argument("--config", help=CONFIG_HELP)
