"""`nvrctl streams`: the live-view URL of every enabled camera, with mediamtx's live state.

The URLs carry no credentials: a viewer logs in with their own account (livestream.viewers).
When mediamtx's API does not answer, the table is still printed, with the state unknown.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from nvr.cli.options import add_command
from nvr.core.config import load_config
from nvr.core.config.livestream import LivestreamConfig
from nvr.core.livewords import live_word
from nvr.core.viewer_urls import stream_urls
from nvr.livestream.constants import MEDIAMTX_API_USER
from nvr.livestream.errors import LivestreamError
from nvr.livestream.mediamtx import ApiCredentials, LivePath, MediamtxClient

COLUMNS = ("ID", "NAME", "LIVE", "READERS", "RTSP", "HLS", "WEBRTC")


def add_parser(subparsers: Any) -> None:
    """Register `streams`."""
    streams = add_command(
        subparsers, "streams", "print the live-view URL of every camera", print_streams
    )
    streams.add_argument("--json", action="store_true", help="print JSON instead of a table")


def _live(section: LivestreamConfig) -> dict[str, LivePath] | None:
    # mediamtx's API takes nvr-livestream's credentials only: readable here when the
    # operator configured livestream.mediamtx_api_secret (nvrctl runs as root).
    secret = section.mediamtx_api_secret
    client = MediamtxClient(
        section.mediamtx_api, None if secret is None else ApiCredentials(MEDIAMTX_API_USER, secret)
    )
    try:
        return client.live_paths()
    except LivestreamError as err:
        hint = "" if secret else " (set livestream.mediamtx_api_secret_file to read it here)"
        print(f"nvrctl streams: live state unknown: {err}{hint}", file=sys.stderr)
        return None
    finally:
        client.close()


def _row(
    camera_id: str,
    name: str,
    urls: dict[str, str],
    live: dict[str, LivePath] | None,
    on_demand: bool,
) -> list[str]:
    if live is None:
        state, readers = "?", "?"
    elif camera_id not in live:
        state, readers = "no path", "0"  # nvr-livestream down or not reconciled yet
    else:
        path = live[camera_id]
        state = live_word(path.available, path.readers, on_demand)
        readers = str(path.readers)
    return [camera_id, name or "-", state, readers, urls["rtsp"], urls["hls"], urls["webrtc"]]


def _state(camera_id: str, live: dict[str, LivePath] | None, on_demand: bool) -> str | None:
    """The one word for the path (None: mediamtx did not answer)."""
    if live is None:
        return None
    path = live.get(camera_id)
    return "no path" if path is None else live_word(path.available, path.readers, on_demand)


def _print_table(rows: list[list[str]]) -> None:
    table = [list(COLUMNS), *rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(COLUMNS))]
    for row in table:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )


def print_streams(args: argparse.Namespace) -> int:
    """Print one row (or JSON object) per enabled camera."""
    config = load_config(args.config)
    live = _live(config.livestream)
    cameras = config.enabled_cameras
    on_demand = config.livestream.on_demand
    if args.json:
        answer = [
            {
                "id": c.id,
                "name": c.name,
                "urls": stream_urls(config, c.id),
                "available": None if live is None else c.id in live and live[c.id].available,
                "state": _state(c.id, live, on_demand),
            }
            for c in cameras
        ]
        print(json.dumps(answer, indent=2))
        return 0
    rows = [_row(c.id, c.name, stream_urls(config, c.id), live, on_demand) for c in cameras]
    _print_table(rows)
    return 0
