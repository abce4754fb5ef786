"""`nvrctl protect`: keep a camera's video of a time range as evidence.

    nvrctl protect --camera cam01 --from '2026-11-21 08:00' --to '2026-11-21 09:30' \
        --reason 'incident 4711'
    nvrctl protect --camera cam02 --from=-30m --to now --reason 'fight at the gate'
    nvrctl protect --list
    nvrctl protect --release 3

Times without an offset are local time (what the technician reads on the wall clock);
`-2h` means two hours ago. The janitor never deletes a protected segment.
"""

from __future__ import annotations

import argparse
from typing import Any

from nvr.cli.options import add_config_option
from nvr.core.config import load_config, resolve_path
from nvr.core.rangesummary import range_summary
from nvr.core.state import StateStore
from nvr.core.tables.recordings import coverage, list_segments
from nvr.core.timeutil import format_local, local_zone, parse_time, typed_as_local
from nvr.hddmon.errors import ProtectionError
from nvr.hddmon.protect import (
    Protection,
    add_protection,
    check_cameras,
    list_protections,
    release_protection,
)
from nvr.hddmon.usage import format_bytes


def add_parser(subparsers: Any) -> None:
    """Register `protect`."""
    protect = subparsers.add_parser(
        "protect",
        help="keep a time range of a camera as evidence (never deleted by nvr-hddmon)",
        description="Protect recorded video from deletion, list or release protections.",
    )
    add_config_option(protect)
    protect.add_argument(
        "--camera", action="append", metavar="ID", help="camera id (repeat for several)"
    )
    # Relative times start with '-': argparse needs them as --from=-2h.
    protect.add_argument(
        "--from", dest="from_time", metavar="T", help="start: '2026-11-21 08:00' or --from=-2h"
    )
    protect.add_argument("--to", dest="to_time", metavar="T", help="end: a time, now, or --to=-1h")
    protect.add_argument("--reason", help="why, e.g. an incident number")
    mode = protect.add_mutually_exclusive_group()
    mode.add_argument("--list", action="store_true", help="list protections")
    mode.add_argument("--release", type=int, metavar="ID", help="remove protection ID")
    protect.set_defaults(func=run_protect)


def run_protect(args: argparse.Namespace) -> int:
    """Add, list or release; errors propagate as NvrError (one line, exit 1)."""
    config = load_config(resolve_path(args.config))
    with StateStore.open(config.storage.state_file) as store:
        if args.list:
            return _print_list(list_protections(store))
        if args.release is not None:
            released = release_protection(store, args.release)
            print(f"released {_describe(released)}")
            return 0
        known = {camera.id for camera in config.cameras}
        from_ms, to_ms = _range(args)
        check_cameras(store, args.camera, known)  # all or nothing
        for camera in args.camera:
            added = add_protection(
                store,
                camera=camera,
                from_ms=from_ms,
                to_ms=to_ms,
                reason=args.reason or "",
                known_cameras=known,
            )
            print(f"protected {_describe(added)}")
            print(f"  {_holds(store, camera, from_ms, to_ms)}")
    return 0


def _holds(store: StateStore, camera: str, from_ms: int, to_ms: int) -> str:
    """How much of the range was recorded, and why the rest is not (issue 24)."""
    conn = store.read()
    segments = list_segments(conn, camera, from_ms, to_ms)
    gaps = coverage(conn, camera, from_ms, to_ms).gaps
    return range_summary("holds", segments, gaps, from_ms, to_ms)


def _range(args: argparse.Namespace) -> tuple[int, int]:
    missing = [
        flag
        for flag, value in (
            ("--camera", args.camera),
            ("--from", args.from_time),
            ("--to", args.to_time),
            ("--reason", args.reason),
        )
        if not value
    ]
    if missing:
        raise ProtectionError(f"protect needs {', '.join(missing)} (or --list / --release)")
    to_text = str(args.to_time)
    to_ms = parse_time("-0s") if to_text == "now" else parse_time(to_text)
    typed = [t for t in (str(args.from_time), to_text) if typed_as_local(t)]
    if typed:
        print(f"{' and '.join(typed)} read as local time, {local_zone()}")
    return parse_time(str(args.from_time)), to_ms


def _describe(p: Protection) -> str:
    return (
        f"#{p.id} camera={p.camera} {format_local(p.from_ms)} .. {format_local(p.to_ms)}: "
        f"{p.segments} segments ({format_bytes(p.bytes)}), reason: {p.reason}"
    )


def _print_list(protections: list[Protection]) -> int:
    if not protections:
        print("no protections")
    for protection in protections:
        print(_describe(protection))
    return 0
