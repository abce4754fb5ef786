"""`disk`: retention, watermarks and SMART, applied by nvr-hddmon (docs/design/disk.md)."""

from __future__ import annotations

from pydantic import Field, model_validator

from nvr.core.config.base import Section


class DiskConfig(Section):
    """Retention and watermarks applied by nvr-hddmon."""

    high_watermark_percent: float = Field(
        default=90.0,
        gt=0,
        lt=100,
        description="above this usage, the oldest unprotected segments are deleted",
    )
    low_watermark_percent: float = Field(
        default=85.0, gt=0, lt=100, description="deletion stops once usage is below this"
    )
    retention_days: int = Field(
        default=30,
        ge=1,
        le=3650,
        description="recordings older than this many days are deleted (cameras may override)",
    )
    headroom_hours: float = Field(
        default=2.0,
        ge=0,
        le=168,
        description="free space must cover this many hours at the measured write rate",
    )
    state_min_free_mb: int = Field(
        default=512, ge=0, description="always kept free on the state file's filesystem, MiB"
    )
    check_interval_seconds: float = Field(
        default=30.0, gt=0, le=3600, description="how often usage is checked"
    )
    smart_devices: tuple[str, ...] = Field(
        default=(), description="block devices checked with smartctl, e.g. [/dev/sda]"
    )
    state_backup_hours: float = Field(
        default=24.0,
        ge=0,
        le=168,
        description="copy the state file to the recordings disk this often (0: never)",
    )
    state_backups_kept: int = Field(
        default=7, ge=1, le=90, description="state file copies kept (the newest)"
    )

    @model_validator(mode="after")
    def _watermarks_ordered(self) -> DiskConfig:
        if self.low_watermark_percent >= self.high_watermark_percent:
            raise ValueError("low_watermark_percent must be below high_watermark_percent")
        return self
