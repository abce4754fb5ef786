"""The playback page's download with manifests: a zip of signed clips, one per run.

The clips and manifests are the ones `nvrctl export` writes (nvr.core.evidenceclip), made
in a private temporary directory (never the recordings tree: docs/design/playback.md,
invariant 3), zipped without compression (MP4 does not shrink) and removed once sent.
"""

from __future__ import annotations

import shutil
import tempfile
import zipfile
from pathlib import Path

from nvr.core.config import Config
from nvr.core.evidenceclip import export_run, plan_evidence
from nvr.core.identity import load_identity
from nvr.core.state import StateStore
from nvr.core.timeutil import format_ms
from nvr.livestream.clip import ensure_temp_space


def evidence_zip(config: Config, camera: str, from_ms: int, to_ms: int) -> Path:
    """A temporary zip of the range's clips and manifests (the caller removes it).

    NvrError (one line) when nothing is recorded or the box key cannot be read.
    """
    workdir = Path(tempfile.mkdtemp(prefix="nvr-evidence-"))
    try:
        with StateStore.open(config.storage.state_file) as store:
            plan = plan_evidence(store, camera, from_ms, to_ms)
            # The clips, then the zip of them: twice the recorded bytes at most.
            ensure_temp_space(2 * sum(seg.bytes for run in plan.runs for seg in run))
            identity = load_identity(config.storage.state_file)
            stem = f"{camera}-{format_ms(from_ms).replace(':', '-')}"
            members: list[Path] = []
            for number, run in enumerate(plan.runs, start=1):
                clip = workdir / (f"{stem}.mp4" if len(plan.runs) == 1 else f"{stem}-{number}.mp4")
                manifest, _ = export_run(config, store, identity, plan, run, clip)
                members += [clip, manifest]
        handle, name = tempfile.mkstemp(prefix="nvr-evidence-", suffix=".zip")
        with open(handle, "wb") as raw, zipfile.ZipFile(raw, "w", zipfile.ZIP_STORED) as archive:
            for member in members:
                archive.write(member, member.name)
        return Path(name)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
