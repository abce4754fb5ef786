"""`nvrctl secret rotate`: give the site a new secret without losing a report or a command.

The order (docs/design/security.md, "Rotating the site secret"):
1. Head office lists the new secret as `secret` and the old one as `previous_secret`
   until `previous_until` (its sites file; SIGHUP), so it takes reports signed either way.
2. `nvrctl secret rotate` on the box writes the new secret over
   `uplink.head_office.secret_file` and keeps the old one in `<secret_file>.previous`;
   commands signed with the old one are still run for `rotation_window_hours`.
3. `systemctl reload nvr-uplink`: reports are signed with the new secret from then on;
   those already on their way, signed with the old one, are accepted by step 1.
Reports are never lost either way: a 401 from head office is retried, not dead-lettered.
"""

from __future__ import annotations

import argparse
import os
import secrets
from pathlib import Path
from typing import Any

import yaml

from nvr.cli.options import add_command
from nvr.core.config import load_config
from nvr.core.config.loader import resolve_path
from nvr.core.config.uplink import PREVIOUS_SUFFIX
from nvr.core.durable import write_atomically
from nvr.core.errors import ConfigError

NEW_SECRET_BYTES = 32


def add_parser(subparsers: Any) -> None:
    """Register `secret rotate`."""
    secret = subparsers.add_parser("secret", help="the site secret (head office, commands)")
    actions = secret.add_subparsers(dest="secret_command", required=True)
    rotate = add_command(
        actions, "rotate", "install a new site secret, keep the old one", rotate_secret
    )
    rotate.add_argument(
        "--new-secret-file",
        type=Path,
        help="the new secret (as agreed with head office); default: a random one (in the file)",
    )


def _secret_file(config_path: Path) -> Path:
    """`uplink.head_office.secret_file` as written in the config (rotation needs a file)."""
    raw = yaml.safe_load(config_path.read_text(encoding="utf-8")) or {}
    head_office = (raw.get("uplink") or {}).get("head_office") or {}
    path = head_office.get("secret_file") if isinstance(head_office, dict) else None
    if not path:
        raise ConfigError(
            f"{config_path}: uplink.head_office.secret_file is not set: rotation replaces"
            " the file's content (move an inline `secret` to a file first)"
        )
    return Path(path)


def _replace(path: Path, text: str, like: os.stat_result) -> None:
    """Write `text` over `path` atomically, with the owner and mode of `like`."""
    write_atomically(path, (text + "\n").encode(), like=like)


def rotate_secret(args: argparse.Namespace) -> int:
    """Keep the old secret in <file>.previous, write the new one over <file>."""
    config_path = resolve_path(args.config)
    config = load_config(config_path)  # the config must be valid before we touch it
    head_office = config.uplink.head_office
    if head_office is None or head_office.secret is None:
        raise ConfigError(f"{config_path}: no uplink.head_office.secret to rotate")
    path = _secret_file(config_path)
    if args.new_secret_file is not None:
        new = args.new_secret_file.read_text(encoding="utf-8").strip()
    else:
        new = secrets.token_urlsafe(NEW_SECRET_BYTES)
    old = head_office.secret.reveal()
    if not new or new == old:
        raise ConfigError("the new secret is empty or the same as the current one")
    like = path.stat()
    _replace(Path(f"{path}{PREVIOUS_SUFFIX}"), old, like)
    _replace(path, new, like)
    hours = head_office.rotation_window_hours
    print(
        f"nvrctl secret: new site secret in {path}; the old one in {path}{PREVIOUS_SUFFIX},"
        f" accepted for commands for {hours:g} h. Head office must list the new one as"
        " `secret` and the old one as `previous_secret` (with `previous_until`), then:"
        " systemctl reload nvr-uplink"
    )
    return 0
