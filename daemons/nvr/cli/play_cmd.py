"""`nvrctl play`: the URL of a camera's playback page at a given time.

    nvrctl play --camera cam01 --at "2026-11-21 08:00"

A time without an offset is the box's local time (the zone is printed with the URL);
the page is served by nvr-livestream and asks for a viewer account.
"""

from __future__ import annotations

import argparse
from datetime import datetime
from typing import Any

from nvr.cli.options import add_config_option
from nvr.core.config import load_config, resolve_path
from nvr.core.errors import NvrError
from nvr.core.playbackurl import playback_server, playback_url
from nvr.core.timeutil import format_ms, parse_time


def add_parser(subparsers: Any) -> None:
    """Register `play`."""
    play = subparsers.add_parser(
        "play",
        help="print the URL to watch a camera's recording from a given time",
        description="Print the playback page URL of a camera at a time (local time unless"
        " the time has an offset).",
    )
    add_config_option(play)
    play.add_argument("--camera", required=True, metavar="ID", help="camera id")
    play.add_argument(
        "--at", default="-1h", metavar="T", help="'2026-11-21 08:00' (local), ISO with Z, or -2h"
    )
    play.set_defaults(func=run_play)


def run_play(args: argparse.Namespace) -> int:
    """Print the URL and how the time was read."""
    config = load_config(resolve_path(args.config))
    if config.camera(args.camera) is None:
        raise NvrError(f"no camera {args.camera!r} in the config")
    at_ms = parse_time(args.at)
    local = datetime.fromtimestamp(at_ms / 1000).astimezone()
    print(playback_url(config, args.camera, at_ms))
    print(
        f"# {args.at!r} read as {local:%Y-%m-%d %H:%M:%S} {local.tzname()}"
        f" (UTC{local:%z}) = {format_ms(at_ms)}; log in with a viewer account"
    )
    if playback_server(config).loopback_only:
        print("# livestream.tls_listen is not set: this URL opens only on the box itself")
    return 0
