"""`nvrctl validate --camera ID`: check one camera now, print and store the result."""

from __future__ import annotations

import argparse
import json
from typing import Any

from nvr.cli.options import add_config_option
from nvr.core.config import load_config, resolve_path
from nvr.core.state import StateStore, now_ms
from nvr.validator.engine import Engine, default_tools, settings_of
from nvr.validator.errors import UnknownCamera
from nvr.validator.results import Status
from nvr.validator.source import SourceKind, camera_source, pick_source


def add_parser(subparsers: Any) -> None:
    """Register `validate`."""
    parser = subparsers.add_parser("validate", help="check one camera's stream and picture now")
    parser.add_argument("--camera", required=True, help="camera id, e.g. cam01")
    add_config_option(parser)
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.set_defaults(func=validate)


def validate(args: argparse.Namespace) -> int:
    """Check the camera, record the result like nvr-validator does; exit 1 when it fails."""
    config = load_config(resolve_path(args.config))
    camera = next((cam for cam in config.cameras if cam.id == args.camera), None)
    if camera is None:
        known = ", ".join(cam.id for cam in config.cameras)
        raise UnknownCamera(f"no camera {args.camera!r} in the config (cameras: {known})")
    with StateStore.open(config.storage.state_file) as store:
        engine = Engine(store, config.storage.state_file, default_tools())
        source = pick_source(store.read(), config, camera, now_ms())
        if source.kind is SourceKind.WAIT:
            # Being recorded, no segment closed yet: a technician asking now gets the
            # camera itself (the daemon would wait for the segment instead).
            source = camera_source(store.read(), config, camera)
        outcome = engine.check(camera, settings_of(config), source)
        engine.record(outcome)
    report = outcome.report
    if args.json:
        rows = [
            {"check": str(r.check), "status": str(r.status), "reason": r.reason, "values": r.values}
            for r in report.results
        ]
        print(json.dumps({"camera": camera.id, "status": str(report.status), "checks": rows}))
    else:
        print(f"{camera.label}: {report.status}{f' ({report.problem})' if report.problem else ''}")
        for r in report.results:
            print(f"  {r.check:<10} {r.status:<5} {r.reason}")
    return 1 if report.status is Status.FAIL else 0
