"""`nvrctl recordings list|verify`, `nvrctl coverage`, `nvrctl export`: what was recorded."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from nvr.cli.options import add_command, add_config_option
from nvr.core.causes import cause_of
from nvr.core.chain import verify_chain
from nvr.core.config import Config, load_config
from nvr.core.errors import NvrError
from nvr.core.evidenceclip import export_run, plan_evidence
from nvr.core.identity import load_identity
from nvr.core.rangesummary import range_summary
from nvr.core.state import StateStore, now_ms
from nvr.core.tables.recordings import Gap, coverage, list_segments
from nvr.core.timeutil import format_local, local_zone, parse_time, typed_as_local


def _range_args(parser: argparse.ArgumentParser, required: bool) -> None:
    add_config_option(parser)
    parser.add_argument("--camera", required=True, help="camera id")
    parser.add_argument(
        "--from", dest="start", required=required, help="start: ISO time, local time, or --from=-2h"
    )
    parser.add_argument(
        "--to", dest="end", required=required, help="end: ISO time, local time, now, or --to=-5m"
    )


def add_parser(subparsers: Any) -> None:
    """Register recordings, coverage and export."""
    recordings = subparsers.add_parser("recordings", help="indexed recordings")
    actions = recordings.add_subparsers(dest="recordings_action", required=True)
    listing = actions.add_parser("list", help="segments of a camera")
    _range_args(listing, required=False)
    listing.add_argument("--json", action="store_true", help="a JSON array")
    listing.set_defaults(func=list_command)
    verify = add_command(actions, "verify", "check hashes and the evidence chain", verify_command)
    verify.add_argument("--camera", required=True, help="camera id")

    cover = subparsers.add_parser("coverage", help="minutes recorded vs expected, with gaps")
    _range_args(cover, required=True)
    cover.add_argument("--json", action="store_true", help="JSON output")
    cover.set_defaults(func=coverage_command)

    export = subparsers.add_parser("export", help="join a time range into one MP4")
    _range_args(export, required=True)
    export.add_argument("-o", "--output", required=True, help="output file (.mp4)")
    export.add_argument("--force", action="store_true", help="overwrite existing output files")
    export.add_argument(
        "--split-at-gaps",
        action="store_true",
        help="one file per continuous run (clip-1.mp4, clip-2.mp4, ...) instead of one",
    )
    export.set_defaults(func=export_command)


def _open(args: argparse.Namespace) -> tuple[Config, StateStore]:
    config = load_config(args.config)
    if config.camera(args.camera) is None and not _has_rows(config, args.camera):
        known = ", ".join(c.id for c in config.cameras) or "none"
        raise NvrError(f"unknown camera {args.camera!r} (configured: {known})")
    return config, StateStore.open(config.storage.state_file)


def _has_rows(config: Config, camera: str) -> bool:
    # A camera removed from the config still has recordings worth listing and exporting.
    with StateStore.open(config.storage.state_file) as store:
        row = store.read().execute("SELECT 1 FROM segments WHERE camera = ? LIMIT 1", (camera,))
        return row.fetchone() is not None


def _range(args: argparse.Namespace) -> tuple[int | None, int | None]:
    now = now_ms()
    start = parse_time(args.start, now_ms=now) if args.start else None
    end = parse_time(args.end, now_ms=now) if args.end else None
    if start is not None and end is not None and end <= start:
        raise NvrError(f"--to ({args.end}) must be after --from ({args.start})")
    typed = [t for t in (args.start, args.end) if t and typed_as_local(t)]
    if typed and not getattr(args, "json", False):
        print(f"{' and '.join(typed)} read as local time, {local_zone()}")
    return start, end


def list_command(args: argparse.Namespace) -> int:
    """Print the segments of a camera."""
    _, store = _open(args)
    start, end = _range(args)
    with store:
        segments = list_segments(store.read(), args.camera, start, end)
    if args.json:
        print(json.dumps([s.to_json() for s in segments], indent=2))
        return 0
    for seg in segments:
        print(
            f"{format_local(seg.start_ms)}  {(seg.end_ms - seg.start_ms) / 1000:6.1f}s"
            f"  {seg.bytes:>11,d} B  {seg.path}"
        )
    print(f"{len(segments)} segments")
    return 0


def coverage_command(args: argparse.Namespace) -> int:
    """Print minutes recorded against expected, and each gap with its reason."""
    _, store = _open(args)
    start, end = _range(args)
    assert start is not None and end is not None
    with store:
        covered = coverage(store.read(), args.camera, start, end)
    result, coverage_gaps = covered.to_json(), covered.gaps
    for gap in result["gaps"]:
        gap["cause"] = cause_of(gap["reason"])  # the word `nvrctl status` uses too
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(
        f"{result['camera']}: {result['recorded_minutes']} of {result['expected_minutes']} "
        f"minutes recorded ({result['percent']}%)"
    )
    for gap in coverage_gaps:
        print(f"  {_gap_line(gap)}")
    return 0


def verify_command(args: argparse.Namespace) -> int:
    """Check every segment's hash and chain link; exit 1 if anything was altered or lost.

    Deleted (by the janitor) and quarantined segments are listed as notes, not problems:
    their tombstones keep the chain verifiable (docs/design/evidence.md).
    """
    config, store = _open(args)
    with store:
        report = verify_chain(store.read(), config.storage.recordings_dir, args.camera)
    for note in report.notes:
        print(f"{note.path}: {note.text}")
    for problem in report.problems:
        print(f"{problem.path}: {problem.text}")
    counts = (
        f"{report.checked} segments checked, {report.deleted} deleted by the janitor,"
        f" {report.quarantined} quarantined"
    )
    if report.problems:
        print(
            f"{args.camera}: {len(report.problems)} problems ({counts}):"
            " the recordings were altered or lost"
        )
        return 1
    print(f"{args.camera}: every segment matches the index and the hash chain ({counts})")
    return 0


def _outputs(output: Path, count: int) -> list[Path]:
    """`clip.mp4`, or `clip-1.mp4`, `clip-2.mp4`, ... for one file per continuous run."""
    if count == 1:
        return [output]
    return [output.with_name(f"{output.stem}-{i}{output.suffix}") for i in range(1, count + 1)]


def export_command(args: argparse.Namespace) -> int:
    """Write the range as one MP4 (or one per continuous run), each with a signed manifest."""
    config, store = _open(args)
    start, end = _range(args)
    assert start is not None and end is not None
    with store:
        plan = plan_evidence(store, args.camera, start, end, args.split_at_gaps)
        identity = load_identity(config.storage.state_file)
        outputs = _outputs(Path(args.output), len(plan.runs))
        _refuse_overwrite(outputs, force=bool(args.force))
        for gap in plan.gaps:
            print(_gap_line(gap))
        for run, output in zip(plan.runs, outputs, strict=True):
            manifest, gaps = export_run(config, store, identity, plan, run, output)
            print(f"wrote {output} ({len(run)} segments, {gaps} gaps) and {manifest}")
    segments = [segment for run in plan.runs for segment in run]
    print(range_summary("exported", segments, plan.gaps, start, end))
    return 0


def _gap_line(gap: Gap) -> str:
    seconds = (gap.end_ms - gap.start_ms) / 1000
    cause = cause_of(gap.reason)
    because = "" if cause == gap.reason else f" ({cause})"
    return (
        f"gap {format_local(gap.start_ms)} → {format_local(gap.end_ms)} ({seconds:g}s):"
        f" {gap.reason}{because}"
    )


def _refuse_overwrite(outputs: list[Path], *, force: bool) -> None:
    """An existing clip may be the one handed over as evidence: replaced only on --force."""
    existing = [str(path) for path in outputs if path.exists()]
    if existing and not force:
        raise NvrError(f"{', '.join(existing)} already exists: pass --force to overwrite")
