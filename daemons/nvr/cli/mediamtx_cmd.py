"""`nvrctl mediamtx config`: the file mediamtx reads, with TLS as nvr.yaml says.

Run by mediamtx.service before mediamtx starts (ExecStartPre=+, as root): it reads
/etc/mediamtx/mediamtx.yml, adds the TLS settings when `livestream.media_tls` is on (the
certificate and key systemd loaded for mediamtx), and writes the result where mediamtx
reads it (docs/design/security.md, invariant 9).
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path
from typing import Any

import yaml

from nvr.core.config import load_config
from nvr.core.errors import NvrError
from nvr.livestream.mediamtx_tls import render

DEFAULT_BASE = Path("/etc/mediamtx/mediamtx.yml")
# Readable by mediamtx's throwaway user; it holds file names, no secret.
OUTPUT_MODE = 0o644


def add_parser(subparsers: Any) -> None:
    """Register `mediamtx config`."""
    mediamtx = subparsers.add_parser("mediamtx", help="the live-view proxy's configuration")
    actions = mediamtx.add_subparsers(dest="mediamtx_command", required=True)
    config = actions.add_parser("config", help="write mediamtx's config with TLS per nvr.yaml")
    config.add_argument("--config", help="nvr.yaml (default: $NVR_CONFIG, else /etc/nvr/nvr.yaml)")
    config.add_argument("--base", type=Path, default=DEFAULT_BASE, help=f"default {DEFAULT_BASE}")
    config.add_argument(
        "--credentials",
        type=Path,
        required=True,
        help="where systemd put mediamtx's nvr.crt and nvr.key (%%d in its unit)",
    )
    config.add_argument("--output", type=Path, required=True, help="the file mediamtx reads")
    config.set_defaults(func=write_config)


def write_config(args: argparse.Namespace) -> int:
    """Render and write atomically, so a crash never leaves mediamtx half a file."""
    section = load_config(args.config).livestream
    try:
        base = yaml.safe_load(args.base.read_text()) or {}
    except (OSError, yaml.YAMLError) as err:
        raise NvrError(f"cannot read mediamtx's config {args.base}: {err}") from None
    text = yaml.safe_dump(render(base, section, args.credentials), sort_keys=False)
    fd, tmp = tempfile.mkstemp(dir=args.output.parent, prefix=".mediamtx-")
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.chmod(tmp, OUTPUT_MODE)
    os.replace(tmp, args.output)
    return 0
