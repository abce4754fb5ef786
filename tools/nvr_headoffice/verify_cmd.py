"""`nvr-headoffice verify CLIP MANIFEST --database PATH`: check a clip from a site.

Exit 0: verified (signature, hashes, and the chain meets a head the site reported);
3: valid but not anchored yet (no head received at or after the clip); 1: refused, with
the reason; 2: bad arguments. See docs/design/evidence.md ("Verification").
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

from nvr.core.manifest import REFUSED, UNANCHORED
from nvr.core.tables.recordings import file_sha256
from nvr_headoffice.constants import PROG
from nvr_headoffice.engines import SQLiteEngine, open_engine
from nvr_headoffice.errors import HeadOfficeError
from nvr_headoffice.store import MIGRATIONS, ReportStore

EXIT_REFUSED = 1
EXIT_UNANCHORED = 3


def build_parser() -> argparse.ArgumentParser:
    """The `verify` command line."""
    parser = argparse.ArgumentParser(
        prog=f"{PROG} verify", description="Verify an exported clip against its signed manifest."
    )
    parser.add_argument("clip", type=Path, help="the clip file (.mp4)")
    parser.add_argument("manifest", type=Path, help="its manifest (.manifest.json)")
    parser.add_argument(
        "--database",
        required=True,
        help="the receiver's database: its SQLite file or postgresql:// URL",
    )
    parser.add_argument("--json", action="store_true", help="print the verdict as JSON")
    return parser


def _read(args: argparse.Namespace) -> tuple[object, str]:
    """The manifest (parsed) and the clip's sha256; HeadOfficeError naming the bad file."""
    try:
        manifest = json.loads(args.manifest.read_text())
    except (OSError, ValueError) as err:
        raise HeadOfficeError(f"manifest {args.manifest}: cannot read it: {err}") from err
    try:
        return manifest, file_sha256(args.clip)
    except OSError as err:
        raise HeadOfficeError(f"clip {args.clip}: cannot read it: {err.strerror}") from err


def verify_main(argv: Sequence[str]) -> int:
    """Run the verification; the exit code says the verdict."""
    args = build_parser().parse_args(argv)
    engine = open_engine(args.database)
    if isinstance(engine, SQLiteEngine) and not engine.path.exists():
        raise HeadOfficeError(f"database {engine.path} does not exist")
    manifest, clip_sha256 = _read(args)
    engine.migrate(MIGRATIONS)
    store = ReportStore(engine)
    try:
        verdict = store.verify_clip(manifest, clip_sha256)
    finally:
        store.close()
    if args.json:
        print(json.dumps(verdict.to_json(), indent=2))
    else:
        print(f"{verdict.status}: {args.clip.name}")
        for reason in verdict.reasons:
            print(f"  {reason}")
        if verdict.anchor:
            anchor = verdict.anchor
            print(
                f"  anchored at segment {anchor['segment_id']}, head received"
                f" {anchor['received_at']}"
            )
    if verdict.status == REFUSED:
        return EXIT_REFUSED
    return EXIT_UNANCHORED if verdict.status == UNANCHORED else 0
