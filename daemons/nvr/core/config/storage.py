"""`storage`: where the recordings and the state file live."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from nvr.core.config.base import Section


class StorageConfig(Section):
    """Where the recordings and the state file live."""

    recordings_dir: Path = Field(
        default=Path("/srv/nvr/recordings"),
        description="recordings: <recordings_dir>/<camera>/<YYYY-MM-DD>/<HH-MM-SS>.<ext>, UTC",
    )
    state_file: Path = Field(
        default=Path("/var/lib/nvr/state.db"), description="the SQLite file all daemons share"
    )
    # On a real box the recordings disk is its own filesystem; when it is not mounted the
    # directory still exists on the root filesystem, and recording there would fill root.
    require_mount: bool = Field(default=False, description="recordings_dir must be a mount")
