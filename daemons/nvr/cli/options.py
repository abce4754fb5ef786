"""Options several nvrctl commands share, so each reads and is explained the same way."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

CONFIG_HELP = "config file (default: $NVR_CONFIG, else /etc/nvr/nvr.yaml)"


def add_config_option(parser: argparse.ArgumentParser) -> None:
    """`--config FILE`: which nvr.yaml (load_config resolves the default)."""
    parser.add_argument("--config", help=CONFIG_HELP)


def add_command(
    actions: Any, name: str, help_text: str, func: Callable[[argparse.Namespace], int]
) -> argparse.ArgumentParser:
    """A command (or sub-command) of `actions` that takes `--config` and runs `func`."""
    parser: argparse.ArgumentParser = actions.add_parser(name, help=help_text)
    add_config_option(parser)
    parser.set_defaults(func=func)
    return parser
