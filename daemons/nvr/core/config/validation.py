"""`validation`: how often and how hard nvr-validator looks at each camera."""

from __future__ import annotations

from pydantic import Field

from nvr.core.config.base import Section


class ValidationConfig(Section):
    """How often and how hard nvr-validator looks at each camera."""

    interval_seconds: float = Field(
        default=300.0, ge=10, le=86400, description="seconds between two checks of a camera"
    )
    workers: int = Field(default=4, ge=1, le=32, description="cameras checked in parallel")
    timeout_seconds: float = Field(
        default=20.0, gt=0, le=300, description="a check that takes longer fails as `timeout`"
    )
    sample_seconds: float = Field(
        default=4.0, ge=1, le=30, description="picture sampled over this long (frozen check)"
    )
    keyframes_only: bool = Field(
        default=True, description="decode keyframes only: cheap, enough at a GOP of 1-2 s"
    )
    confirm_checks: int = Field(
        default=2,
        ge=1,
        le=10,
        description="a picture problem raises camera_invalid only after this many checks"
        " in a row; the next check comes 30 s after the first",
    )
