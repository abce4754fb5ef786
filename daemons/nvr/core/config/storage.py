"""`storage`, `recording` and `disk`: where video goes and how the disk is kept healthy."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from pydantic import Field, model_validator

from nvr.core.config.base import Section


class StorageConfig(Section):
    """Where the recordings and the state file live."""

    recordings_dir: Path = Field(default=Path("/srv/nvr/recordings"))
    state_file: Path = Field(default=Path("/var/lib/nvr/state.db"))
    # On a real box the recordings disk is its own filesystem; when it is not mounted the
    # directory still exists on the root filesystem, and recording there would fill root.
    require_mount: bool = Field(default=False, description="recordings_dir must be a mount")


class Container(StrEnum):
    """Segment container; both stay playable when the writer dies mid-segment."""

    FMP4 = "fmp4"
    MPEGTS = "mpegts"


class AudioPolicy(StrEnum):
    """What to do with audio the container cannot hold (e.g. G.711 in MP4)."""

    TRANSCODE = "transcode"  # to AAC
    DROP = "drop"


class RtspTransport(StrEnum):
    """RTSP transport; TCP survives lossy site networks without smeared pictures.

    `auto` tries TCP, then UDP when the camera refuses TCP (RTSP 461), and remembers what
    worked per camera in the state file (nvr.core.camera_media), so a restart does not
    pay for the failed attempt again.
    """

    AUTO = "auto"
    TCP = "tcp"
    UDP = "udp"


class BackoffConfig(Section):
    """Reconnect back-off of a failing camera (the seed design: 30 s, x1.5, max 300 s)."""

    initial_seconds: float = Field(default=30.0, gt=0, le=3600)
    factor: float = Field(default=1.5, ge=1.0, le=10.0)
    max_seconds: float = Field(default=300.0, gt=0, le=86400)
    warn_after_failures: int = Field(default=3, ge=1)
    critical_after_failures: int = Field(default=10, ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> BackoffConfig:
        if self.max_seconds < self.initial_seconds:
            raise ValueError("max_seconds must be >= initial_seconds")
        if self.critical_after_failures < self.warn_after_failures:
            raise ValueError("critical_after_failures must be >= warn_after_failures")
        return self


class RecordingConfig(Section):
    """How nvr-backup records."""

    segment_seconds: int = Field(default=60, ge=2, le=3600)
    container: Container = Container.FMP4
    audio: AudioPolicy = AudioPolicy.TRANSCODE
    rtsp_transport: RtspTransport = Field(
        default=RtspTransport.AUTO, description="auto: TCP, else UDP; remembered per camera"
    )
    socket_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    stall_seconds: float = Field(default=30.0, gt=0, le=3600, description="no progress → restart")
    stop_grace_seconds: float = Field(default=5.0, gt=0, le=120)
    liveness_probe_seconds: float = Field(default=5.0, gt=0, le=300)
    backoff: BackoffConfig = BackoffConfig()
    record_when_invalid_picture: bool = Field(
        default=True,
        description="keep recording cameras whose picture is black or covered; false pauses"
        " them until the validator sees a picture again (no other verdict stops recording)",
    )


class DiskConfig(Section):
    """Retention and watermarks applied by nvr-hddmon."""

    high_watermark_percent: float = Field(default=90.0, gt=0, lt=100)
    low_watermark_percent: float = Field(default=85.0, gt=0, lt=100)
    retention_days: int = Field(default=30, ge=1, le=3650)
    headroom_hours: float = Field(default=2.0, ge=0, le=168)
    state_min_free_mb: int = Field(default=512, ge=0)
    check_interval_seconds: float = Field(default=30.0, gt=0, le=3600)
    smart_devices: tuple[str, ...] = ()
    state_backup_hours: float = Field(
        default=24.0,
        ge=0,
        le=168,
        description="copy the state file to the recordings disk this often (0: never)",
    )
    state_backups_kept: int = Field(default=7, ge=1, le=90)

    @model_validator(mode="after")
    def _watermarks_ordered(self) -> DiskConfig:
        if self.low_watermark_percent >= self.high_watermark_percent:
            raise ValueError("low_watermark_percent must be below high_watermark_percent")
        return self
