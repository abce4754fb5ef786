"""Benchmark of evidence export and verification for a 1-hour clip (`make bench`).

    .venv/bin/python tests/bench/bench_evidence.py [--minutes 60] [--links-after 1440]

One camera at 4 Mbit/s (1280x720, 25 fps, H.264): a 10 s clip is encoded once, looped
with `-c copy` into a 60 s fMP4 segment, and copied into `--minutes` indexed segments
(chained as nvr-backup chains them), followed by `--links-after` more rows (a day of
segments recorded after the clip, without files) that the manifest must carry to reach
the head head office holds: the worst case, where no status report carried a head in
between (otherwise the links stop at the first head reported after the clip).
Measured, each the median of --repeat runs:

- export: `nvr.core.tables.export.export_clip` (ffmpeg concat, stream copy) of the hour;
- manifest: hash the clip, collect the chain links, sign with Ed25519, write it;
- verify: what `nvr-headoffice verify` does: hash the clip, check signature, links, anchor;
- baselines from the same run: bare `ffmpeg -f concat -c copy` of the same segments
  (what any export costs) and the SHA-256 of the clip alone (what any check of a file
  costs; coreutils sha256sum is several times slower here than OpenSSL's, so not it).

Writes tests/bench/results/evidence.json and evidence.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchlib import machine, write_results

from nvr.core.chain import chain_head, chain_tip
from nvr.core.identity import load_identity
from nvr.core.manifest import ClipSource, manifest_path, write_manifest
from nvr.core.state import StateStore
from nvr.core.tables.export import export_clip
from nvr.core.tables.recordings import chain_hash, coverage, file_sha256, list_segments
from nvr.core.timeutil import format_ms
from nvr.core.tools import require_tool
from nvr_headoffice.store import ReportStore
from nvr_headoffice.verify import Envelope

SEGMENT_MS = 60_000
T0_MS = 1_795_000_000_000
SITE = "bench-01"
BITRATE = "4M"


def ffmpeg(*args: str) -> None:
    subprocess.run(
        [require_tool("ffmpeg"), "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *args],
        check=True,
    )


def make_segment(workdir: Path) -> Path:
    """A 60 s, 4 Mbit/s fMP4 segment: 10 s encoded, looped by stream copy."""
    short, segment = workdir / "short.mp4", workdir / "segment.mp4"
    ffmpeg(
        "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=25:duration=10",
        "-c:v", "libx264", "-preset", "ultrafast", "-b:v", BITRATE, "-maxrate", BITRATE,
        "-bufsize", "8M", "-g", "50", "-pix_fmt", "yuv420p", str(short),
    )  # fmt: skip
    ffmpeg(
        "-stream_loop", "5", "-i", str(short), "-c", "copy", "-t", "60",
        "-movflags", "+frag_keyframe+empty_moov+default_base_moof", str(segment),
    )  # fmt: skip
    return segment


def build(store: StateStore, root: Path, segment: Path, minutes: int, after: int) -> None:
    """`minutes` segments with files, then `after` rows without, chained in id order."""
    data = segment.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    rows = []
    with store.write() as conn:
        previous = chain_tip(conn, "cam01")
        for i in range(minutes + after):
            start = T0_MS + i * SEGMENT_MS
            start_dt = datetime.fromtimestamp(start / 1000, UTC)
            path = f"cam01/{start_dt:%Y-%m-%d}/{start_dt:%H-%M-%S}.mp4"
            if i < minutes:
                (root / path).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(segment, root / path)
            row_sha = sha if i < minutes else f"{i:064x}"
            previous = chain_hash(previous, row_sha)
            rows.append(("cam01", path, start, start + SEGMENT_MS, len(data), row_sha, previous))
        conn.executemany(
            "INSERT INTO segments (camera, path, start_ms, end_ms, bytes, sha256, chain_sha256,"
            " status, created_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?, 'ok', 0)",
            rows,
        )


def timed(action: Callable[[], object], repeat: int) -> float:
    """Median wall seconds of `repeat` runs."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def anchor(headoffice: ReportStore, store: StateStore, public: dict[str, Any]) -> None:
    """Head office receives one status report with the camera's head and the key."""
    head = chain_head(store.read(), "cam01")
    assert head is not None
    body = {"evidence": {"public_key": public, "chain_heads": [head.to_json()]}}
    envelope = Envelope("r1", SITE, 1, "status", format_ms(T0_MS), body)
    headoffice.store(SITE, [envelope], int(time.time() * 1000))


def run(workdir: Path, minutes: int, after: int, repeat: int) -> dict[str, Any]:
    root = workdir / "recordings"
    (workdir / "state").mkdir()
    store = StateStore.open(workdir / "state" / "state.db")
    setup = time.perf_counter()
    build(store, root, make_segment(workdir), minutes, after)
    identity = load_identity(store.path)
    headoffice = ReportStore.open(workdir / "headoffice.db")
    anchor(headoffice, store, identity.public_json())
    setup_s = time.perf_counter() - setup

    from_ms, to_ms = T0_MS, T0_MS + minutes * SEGMENT_MS
    conn = store.read()
    segments = list_segments(conn, "cam01", from_ms, to_ms)
    clip = workdir / "clip.mp4"
    source = ClipSource(
        SITE, "cam01", from_ms, to_ms, segments, coverage(conn, "cam01", from_ms, to_ms).gaps
    )
    export_s = timed(lambda: export_clip(root, segments, from_ms, to_ms, clip), repeat)
    manifest_s = timed(lambda: write_manifest(store, source, clip, identity), repeat)
    manifest = json.loads(manifest_path(clip).read_text())

    def verify() -> None:
        verdict = headoffice.verify_clip(manifest, file_sha256(clip))
        assert verdict.status == "verified", verdict.to_json()

    verify_s = timed(verify, repeat)
    listing = workdir / "list.ffconcat"
    listing.write_text("".join(f"file '{root / s.path}'\n" for s in segments))
    bare = workdir / "bare.mp4"
    concat_s = timed(
        lambda: ffmpeg("-f", "concat", "-safe", "0", "-i", str(listing), "-c", "copy", str(bare)),
        repeat,
    )
    hash_s = timed(lambda: file_sha256(clip), repeat)
    return {
        "clip_minutes": minutes,
        "clip_bytes": clip.stat().st_size,
        "links_after_clip": after,
        "manifest_bytes": manifest_path(clip).stat().st_size,
        "export_seconds": round(export_s, 3),
        "manifest_and_signature_seconds": round(manifest_s, 3),
        "export_total_seconds": round(export_s + manifest_s, 3),
        "baseline_concat_copy_seconds": round(concat_s, 3),
        "export_total_vs_concat": round((export_s + manifest_s) / concat_s, 2),
        "headoffice_verify_seconds": round(verify_s, 3),
        "baseline_clip_sha256_seconds": round(hash_s, 3),
        "verify_vs_clip_sha256": round(verify_s / hash_s, 2),
        "repeat": repeat,
        "setup_seconds": round(setup_s, 1),
        **machine(),
    }


def markdown(result: dict[str, Any]) -> str:
    lines = [
        "# Evidence export and verification benchmark",
        "",
        f"One camera at {BITRATE}bit/s, a {result['clip_minutes']}-minute clip of 60 s fMP4"
        f" segments, {result['links_after_clip']} chain links after it (the manifest carries"
        " them to the head head office holds); medians of"
        f" {result['repeat']} runs. Run: `.venv/bin/python tests/bench/bench_evidence.py`.",
        "",
        "| metric | value |",
        "|---|---|",
    ]
    lines += [f"| {key} | {value} |" for key, value in result.items()]
    lines += [
        "",
        "export_total = export (ffmpeg stream copy) + manifest (clip hash, chain links,"
        " Ed25519 signature). headoffice_verify = clip hash + signature + links + anchor."
        " Baselines: bare concat copy, SHA-256 of the clip (hashlib), in the same run.",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=int, default=60)
    parser.add_argument("--links-after", type=int, default=1440)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workdir", help="where the segments go (default: a temp dir)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.workdir) as workdir:
        result = run(Path(workdir), args.minutes, args.links_after, args.repeat)
    write_results("evidence", result, markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
