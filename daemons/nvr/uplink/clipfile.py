"""One recorded range of a camera as an evidence clip in the spool: MP4 + signed manifest.

Shared by `request_clip` commands and alarm clips (docs/design/commands.md and
hse-edge.md): stream copy through `nvr.core.export`, synced to disk, hashed, with the
manifest head office verifies the clip with.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from nvr.core.chain import explain_deleted
from nvr.core.config import Config
from nvr.core.durable import sync_file
from nvr.core.export import export_clip
from nvr.core.identity import load_identity
from nvr.core.manifest import ClipSource, write_manifest
from nvr.core.recordings import Segment, coverage, file_sha256, list_segments
from nvr.core.state import StateStore


@dataclass(frozen=True)
class ClipFile:
    """An exported clip on disk and what its uploads rows need."""

    path: Path
    manifest: Path
    sha256: str
    bytes: int


def export_evidence_clip(
    store: StateStore,
    config: Config,
    camera: str,
    period: tuple[int, int],
    output: Path,
    *,
    low_priority: bool = False,
) -> ClipFile:
    """Stream-copy [from_ms, to_ms) of `camera` to `output`, sync it, hash it, sign it.

    Raises ExportError when nothing can be exported.
    """
    from_ms, to_ms = period
    segments = list_segments(store.read(), camera, from_ms, to_ms)
    output.parent.mkdir(parents=True, exist_ok=True)
    export_clip(
        config.storage.recordings_dir, segments, from_ms, to_ms, output, low_priority=low_priority
    )
    sync_file(output)
    manifest = _write_manifest(store, config, segments, period, output)
    return ClipFile(output, manifest, file_sha256(output), output.stat().st_size)


def _write_manifest(
    store: StateStore,
    config: Config,
    segments: list[Segment],
    period: tuple[int, int],
    clip: Path,
) -> Path:
    """The signed manifest beside the clip: what head office verifies the clip with."""
    conn = store.read()
    camera = segments[0].camera
    gaps = explain_deleted(conn, camera, coverage(conn, camera, *period).gaps)
    source = ClipSource(config.site.id, camera, *period, segments, gaps)
    return write_manifest(store, source, clip, load_identity(config.storage.state_file))
