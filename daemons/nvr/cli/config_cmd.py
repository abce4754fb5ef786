"""`nvrctl config`: `check`, `apply` (reload the daemons), `schema`, `minio-policy`.

`check` validates as the daemons do; `minio-policy` prints the policy a company gives this
site's user on a MinIO cluster shared by many sites (docs/design/objects.md).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from nvr.cli.config_apply import DEFAULT_WAIT_SECONDS, apply_config
from nvr.cli.options import add_command, add_config_option
from nvr.core.config import load_config, resolve_path
from nvr.core.config.schema import documented_keys, json_schema, render_text
from nvr.core.minio_policy import site_policy
from nvr.core.tables.uploads import IMAGES_BUCKET, RECORDINGS_BUCKET


def add_parser(subparsers: Any) -> None:
    """Register `config` and its subcommands."""
    config = subparsers.add_parser("config", help="work with the configuration file")
    actions = config.add_subparsers(dest="config_action", required=True)
    add_command(actions, "check", "validate the config; exit 1 with the first error", check_config)
    apply = actions.add_parser(
        "apply", help="check the config, reload every daemon, report which accepted it"
    )
    add_config_option(apply)
    apply.add_argument(
        "--wait",
        type=float,
        default=DEFAULT_WAIT_SECONDS,
        help="seconds to wait for every daemon's answer (default %(default)s)",
    )
    apply.set_defaults(
        func=lambda args: apply_config(resolve_path(args.config), wait_seconds=args.wait)
    )
    schema = actions.add_parser(
        "schema", help="every key of nvr.yaml: type, default and description"
    )
    schema.add_argument("--json", action="store_true", help="print the JSON Schema instead")
    schema.set_defaults(func=print_schema)
    add_command(
        actions,
        "minio-policy",
        "print the MinIO policy that lets this site write only its own keys (JSON)",
        print_minio_policy,
    )


def check_config(args: argparse.Namespace) -> int:
    """Load and validate; print a one-line summary. Errors propagate as ConfigError."""
    path = resolve_path(args.config)
    config = load_config(path)
    enabled = len(config.enabled_cameras)
    print(f"{path}: ok (site {config.site.id}, {len(config.cameras)} cameras, {enabled} enabled)")
    return 0


def print_schema(args: argparse.Namespace) -> int:
    """The documented schema, readable or as JSON Schema; needs no config file."""
    if args.json:
        print(json.dumps(json_schema(), indent=2))
    else:
        print(render_text(documented_keys()), end="")
    return 0


def print_minio_policy(args: argparse.Namespace) -> int:
    """Print the site's policy for its buckets (the defaults when uplink.minio is not set)."""
    config = load_config(resolve_path(args.config))
    minio = config.uplink.minio
    buckets = (
        (IMAGES_BUCKET, RECORDINGS_BUCKET)
        if minio is None
        else (minio.images_bucket, minio.recordings_bucket)
    )
    print(json.dumps(site_policy(config.site.id, buckets), indent=2))
    return 0
