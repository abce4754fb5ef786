"""A range of a camera exported as evidence: one MP4 per run, each with a signed manifest.

Used by `nvrctl export` and the playback page's download (docs/design/evidence.md,
procedure "Export"; docs/design/playback.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from nvr.core.chain import explain_deleted
from nvr.core.config import Config
from nvr.core.errors import NvrError
from nvr.core.export import continuous_runs, export_clip
from nvr.core.identity import BoxIdentity
from nvr.core.manifest import ClipSource, write_manifest
from nvr.core.recordings import Gap, Segment, coverage, list_segments
from nvr.core.state import StateStore


@dataclass(frozen=True)
class EvidencePlan:
    """What an export of [from_ms, to_ms) will write: the runs and the gaps between."""

    camera: str
    from_ms: int
    to_ms: int
    runs: list[list[Segment]]
    gaps: list[Gap]


def plan_evidence(
    store: StateStore, camera: str, from_ms: int, to_ms: int, split_at_gaps: bool = True
) -> EvidencePlan:
    """The segments of the range, split at gaps (or not); NvrError when nothing is recorded."""
    conn = store.read()
    segments = list_segments(conn, camera, from_ms, to_ms)
    if not segments:
        raise NvrError(f"nothing recorded for {camera} in that range")
    gaps = explain_deleted(conn, camera, coverage(conn, camera, from_ms, to_ms).gaps)
    runs = continuous_runs(segments) if split_at_gaps else [segments]
    return EvidencePlan(camera, from_ms, to_ms, runs, gaps)


def export_run(
    config: Config,
    store: StateStore,
    identity: BoxIdentity,
    plan: EvidencePlan,
    run: list[Segment],
    output: Path,
) -> tuple[Path, int]:
    """One clip of `run` and its manifest; (manifest path, gaps listed in it).

    The manifest lists the gaps inside the clip's own range.
    """
    from_ms, to_ms = max(plan.from_ms, run[0].start_ms), min(plan.to_ms, run[-1].end_ms)
    export_clip(config.storage.recordings_dir, run, plan.from_ms, plan.to_ms, output)
    inside = [g for g in plan.gaps if g.start_ms < to_ms and g.end_ms > from_ms]
    source = ClipSource(config.site.id, run[0].camera, from_ms, to_ms, run, inside)
    return write_manifest(store, source, output, identity), len(inside)
