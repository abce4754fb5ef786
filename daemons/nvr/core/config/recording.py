"""`recording`: how nvr-backup records each camera (docs/design/recording.md)."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field, model_validator

from nvr.core.config.base import Section


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
    """Reconnect back-off of a failing camera (docs/design/recording.md, invariant 11)."""

    initial_seconds: float = Field(
        default=30.0, gt=0, le=3600, description="first retry after this many seconds"
    )
    factor: float = Field(
        default=1.5, ge=1.0, le=10.0, description="each further retry waits this factor longer"
    )
    max_seconds: float = Field(
        default=300.0, gt=0, le=86400, description="never wait longer than this"
    )
    warn_after_failures: int = Field(
        default=3, ge=1, description="a warning event after this many consecutive failures"
    )
    critical_after_failures: int = Field(
        default=10, ge=1, description="a critical event after this many consecutive failures"
    )

    @model_validator(mode="after")
    def _ordered(self) -> BackoffConfig:
        if self.max_seconds < self.initial_seconds:
            raise ValueError("max_seconds must be >= initial_seconds")
        if self.critical_after_failures < self.warn_after_failures:
            raise ValueError("critical_after_failures must be >= warn_after_failures")
        return self


class RecordingConfig(Section):
    """How nvr-backup records."""

    segment_seconds: int = Field(
        default=60,
        ge=2,
        le=3600,
        description="segment length; segments start on wall-clock multiples of it",
    )
    container: Container = Field(
        default=Container.FMP4,
        description="fmp4 (fragmented MP4) or mpegts; both stay playable after a power cut",
    )
    audio: AudioPolicy = Field(
        default=AudioPolicy.TRANSCODE,
        description="audio the container cannot hold (e.g. G.711): transcode (to AAC) or drop",
    )
    rtsp_transport: RtspTransport = Field(
        default=RtspTransport.AUTO, description="auto: TCP, else UDP; remembered per camera"
    )
    socket_timeout_seconds: float = Field(
        default=10.0, gt=0, le=300, description="give up on a silent RTSP socket after this long"
    )
    stall_seconds: float = Field(default=30.0, gt=0, le=3600, description="no progress → restart")
    stop_grace_seconds: float = Field(
        default=5.0,
        gt=0,
        le=120,
        description="on stop, ffmpeg gets this long to close its segment before it is killed",
    )
    liveness_probe_seconds: float = Field(
        default=5.0,
        gt=0,
        le=300,
        description="while a camera is down, probe it this often to resume within seconds",
    )
    backoff: BackoffConfig = Field(
        default=BackoffConfig(), description="reconnect back-off of a failing camera"
    )
    record_when_invalid_picture: bool = Field(
        default=True,
        description="keep recording cameras whose picture is black or covered; false pauses"
        " them until the validator sees a picture again (no other verdict stops recording)",
    )
