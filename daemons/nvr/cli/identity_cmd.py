"""`nvrctl identity init|show`: the box's Ed25519 key that signs clip manifests."""

from __future__ import annotations

import argparse
import json
from typing import Any

from nvr.cli.options import add_command
from nvr.core.config import load_config
from nvr.core.identity import key_path, load_identity


def add_parser(subparsers: Any) -> None:
    """Register identity init and show."""
    identity = subparsers.add_parser("identity", help="the box key that signs clip manifests")
    actions = identity.add_subparsers(dest="identity_action", required=True)
    add_command(actions, "init", "create the key if absent (the package does this)", init_command)
    add_command(actions, "show", "the public key, as head office registers it", show_command)


def init_command(args: argparse.Namespace) -> int:
    """Create the key (mode 0600) unless it exists; print where it is and its id."""
    config = load_config(args.config)
    existed = key_path(config.storage.state_file).exists()
    identity = load_identity(config.storage.state_file)
    state = "exists" if existed else "created"
    print(f"box key {identity.path} {state}; key id {identity.key_id}")
    return 0


def show_command(args: argparse.Namespace) -> int:
    """Print the public half as JSON; never the private key."""
    config = load_config(args.config)
    identity = load_identity(config.storage.state_file, create=False)
    print(json.dumps(identity.public_json(), indent=2))
    return 0
