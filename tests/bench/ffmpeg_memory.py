"""Memory of one recording ffmpeg child per binary and option variant (issue 17).

    NVR_MEDIAMTX_BIN=... .venv/bin/python tests/bench/ffmpeg_memory.py \\
        [--binary /usr/bin/ffmpeg ~/.cache/nvr-dev/bin/ffmpeg-rec] [--variant base threads1 ...]
        [--cameras 4] [--settle 15] [--breakdown]

Not part of `make bench` (the numbers in docs/design/recording.md, Numbers, come from it):
for each binary and variant, one ffmpeg per simulated camera (1080p, 4 Mbit/s) with the
argv nvr-backup builds plus the variant's options and environment; after `--settle`
seconds, the mean of /proc/<pid>/smaps_rollup over the children: USS (Private_Clean +
Private_Dirty, what every further camera adds) and PSS. `--breakdown` prints the private
kB per mapping of the first child (which libraries the private memory belongs to).
Prints JSON on stdout.
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from nvr.backup.command import build_command, recording_ffmpeg
from nvr.backup.paths import ensure_staging_directory
from nvr.core.config import parse_config
from nvr.core.process import child_environment
from nvr.core.tools import require_tool
from nvr_camsim import CameraSimulator

log = logging.getLogger("ffmpeg_memory")

WIDTH, HEIGHT, BITRATE = 1920, 1080, 4_000_000
STOP_TIMEOUT_S = 30.0
KIB_PER_MB = 1024
BREAKDOWN_TOP = 25


@dataclass(frozen=True)
class Variant:
    """Options before `-i`, options before the output, environment of the child."""

    input_options: list[str] = field(default_factory=list)
    output_options: list[str] = field(default_factory=list)
    environment: dict[str, str] = field(default_factory=dict)


VARIANTS = {
    "base": Variant(),
    "threads1": Variant(output_options=["-threads", "1"]),
    "arena1": Variant(environment={"MALLOC_ARENA_MAX": "1"}),
    "tunables": Variant(
        environment={
            "GLIBC_TUNABLES": "glibc.malloc.arena_max=1:glibc.malloc.trim_threshold=131072"
            ":glibc.malloc.mmap_threshold=131072"
        }
    ),
    "probe": Variant(input_options=["-probesize", "500000", "-analyzeduration", "1000000"]),
    "nobuffer": Variant(input_options=["-fflags", "nobuffer"]),
    "reorder0": Variant(input_options=["-reorder_queue_size", "0"]),
    "tqs8": Variant(input_options=["-thread_queue_size", "8"]),
    "maxdelay0": Variant(input_options=["-max_delay", "0"]),
    "bindnow": Variant(environment={"LD_BIND_NOW": "1"}),
}


def with_variant(argv: list[str], variant: Variant) -> list[str]:
    """The argv with the variant's input options before `-i` and output options last."""
    at = argv.index("-i")
    argv = argv[:at] + variant.input_options + argv[at:]
    return argv[:-1] + variant.output_options + argv[-1:]


def rollup(pid: int) -> dict[str, int]:
    """/proc/<pid>/smaps_rollup in kB by field."""
    fields = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        key, value = line.split(":", 1)
        fields[key] = int(value.split()[0])
    return fields


def private_by_mapping(pid: int) -> list[tuple[str, int]]:
    """Private kB per mapped file (or [heap], [anon], ...), largest first."""
    totals: dict[str, int] = {}
    current = "[anon]"
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        parts = line.split()
        if "-" in parts[0] and not parts[0].endswith(":"):  # a mapping's header line
            current = parts[5] if len(parts) > 5 else "[anon]"
        elif parts[0] in ("Private_Clean:", "Private_Dirty:"):
            totals[current] = totals.get(current, 0) + int(parts[1])
    return sorted(totals.items(), key=lambda item: -item[1])


def measure(
    binary: str,
    variant: Variant,
    sim: CameraSimulator,
    root: Path,
    settle: float,
    breakdown: bool,
) -> dict[str, object]:
    """Start one child per camera, read their memory after `settle` s, stop them."""
    root.mkdir(parents=True)
    config = parse_config(
        {
            "site": {"id": "mem"},
            "storage": {"recordings_dir": str(root), "state_file": str(root / "s.db")},
            "recording": {"segment_seconds": 30},
            "cameras": [{"id": cid, "url": sim.camera_url(cid)} for cid in sim.camera_ids],
        },
        root / "nvr.yaml",
    )
    env = child_environment() | variant.environment | {"TZ": "UTC"}
    children = []
    for camera in config.cameras:
        ensure_staging_directory(root, camera.id)
        command = build_command(binary, camera, config.recording, root, "copy", "0ba5e11e", "tcp")
        with (root / f"{camera.id}.stderr").open("wb") as stderr:
            children.append(
                subprocess.Popen(
                    with_variant(command.argv, variant),
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=stderr,
                    env=env,
                )
            )
    try:
        time.sleep(settle)
        alive = [child.pid for child in children if child.poll() is None]
        rows = [rollup(pid) for pid in alive]
        top = private_by_mapping(alive[0]) if breakdown and alive else []
    finally:
        for child in children:
            child.terminate()
        for child in children:
            child.wait(STOP_TIMEOUT_S)
    if not rows:
        problem = (root / f"{config.cameras[0].id}.stderr").read_text(errors="replace")
        return {"alive": 0, "stderr": problem[-600:]}

    def mean_mb(*keys: str) -> float:
        return round(sum(r[k] for r in rows for k in keys) / len(rows) / KIB_PER_MB, 2)

    result: dict[str, object] = {
        "alive": len(rows),
        "uss_mb": mean_mb("Private_Clean", "Private_Dirty"),
        "pss_mb": mean_mb("Pss"),
        "rss_mb": mean_mb("Rss"),
        "written_mb": round(sum(p.stat().st_size for p in root.rglob("*.mp4")) / 1e6, 1),
    }
    if top:
        result["private_kb_by_mapping"] = dict(top[:BREAKDOWN_TOP])
        result["private_kb_other_mappings"] = sum(kb for _, kb in top[BREAKDOWN_TOP:])
        result["mappings"] = len(top)
    return result


def main(argv: list[str] | None = None) -> int:
    """Measure every binary x variant on one simulator; print JSON."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", nargs="+", default=None)
    parser.add_argument("--variant", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    parser.add_argument("--cameras", type=int, default=4)
    parser.add_argument("--settle", type=float, default=15.0)
    parser.add_argument("--breakdown", action="store_true")
    args = parser.parse_args(argv)
    binaries = args.binary or sorted({require_tool("ffmpeg"), recording_ffmpeg()})
    results: dict[str, dict[str, object]] = {}
    with tempfile.TemporaryDirectory(prefix="ffmpeg-memory-") as tmp:
        work = Path(tmp)
        sim = CameraSimulator(
            work / "sim", cameras=args.cameras, width=WIDTH, height=HEIGHT, bitrate=BITRATE
        )
        with sim:
            for index, (binary, name) in enumerate((b, v) for b in binaries for v in args.variant):
                key = f"{Path(binary).resolve().name} {name}"
                results[key] = measure(
                    binary,
                    VARIANTS[name],
                    sim,
                    work / f"run{index}",
                    args.settle,
                    args.breakdown,
                )
                log.info("%s: %s", key, results[key])
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
