"""`health`: the NOC endpoint of nvr-health and its thresholds (docs/design/health.md)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import Field, model_validator

from nvr.core.config.base import SecretStr, inline_secret_file
from nvr.core.config.served import ServedSection


class MediamtxCheck(StrEnum):
    """When nvr-health checks that mediamtx's API answers."""

    AUTO = "auto"  # when nvr-livestream has a heartbeat row (live view is in use)
    ALWAYS = "always"
    NEVER = "never"


class HealthConfig(ServedSection):
    """The NOC endpoint: /health, /metrics and the status page (docs/design/health.md).

    /health, /health/live, /ready and /metrics answer anyone who reaches them, or only
    requests carrying `Authorization: Bearer <token>` when a token is set; the status page
    and snapshots need a viewer login (docs/design/security.md, invariant 4).
    """

    listen: str = Field(
        default="127.0.0.1:8080",
        description="plain-HTTP address (loopback only, unless plain_http_anywhere is true)",
    )
    token: SecretStr | None = Field(
        default=None,
        description="bearer token the NOC (Prometheus) sends to /health, /ready and /metrics"
        " (or token_file: PATH); none: they answer anyone who reaches the port",
    )
    daemons: tuple[str, ...] = Field(
        default=("nvr-backup", "nvr-hddmon", "nvr-validator", "nvr-report", "nvr-uplink"),
        description="daemons that must be running; a missing or stale heartbeat is critical",
    )
    heartbeat_stale_factor: float = Field(
        default=3.0, ge=1.5, le=100, description="stale after this many promised intervals"
    )
    camera_stale_seconds: float = Field(
        default=120.0,
        ge=10,
        le=86_400,
        description="no new segment for this long is critical (at least 2 segments + 30 s)",
    )
    crash_hold_seconds: float = Field(
        default=60.0,
        ge=0,
        le=3600,
        description="a daemon restarted after a crash is named as a warning this long",
    )
    crash_loop_count: int = Field(
        default=3,
        ge=2,
        le=100,
        description="this many crashes of one daemon within crash_loop_window_seconds is critical",
    )
    crash_loop_window_seconds: float = Field(
        default=600.0, ge=10, le=86_400, description="the window crashes are counted in"
    )
    outbox_warning_percent: float = Field(
        default=50.0, gt=0, le=100, description="an outbox fuller than this warns"
    )
    outbox_critical_percent: float = Field(
        default=90.0,
        gt=0,
        le=100,
        description="an outbox this full is critical: nvr-uplink trims it to 90 % by dropping",
    )
    disk_critical_percent: float = Field(
        default=95.0,
        gt=0,
        le=100,
        description="disk usage above this is critical; above disk.high_watermark_percent it warns",
    )
    uplink_warning_seconds: float = Field(
        default=900.0,
        ge=10,
        le=7 * 86_400,
        description="the oldest report still waiting for a destination warns after this long",
    )
    uplink_critical_seconds: float = Field(
        default=3600.0, ge=10, le=30 * 86_400, description="...and is critical after this long"
    )
    mediamtx_check: MediamtxCheck = Field(
        default=MediamtxCheck.AUTO,
        description="check that mediamtx's API answers: auto (when nvr-livestream runs),"
        " always or never",
    )
    page_refresh_seconds: int = Field(
        default=30, ge=5, le=3600, description="the status page reloads itself this often"
    )

    @model_validator(mode="before")
    @classmethod
    def _token_file(cls, data: Any) -> Any:
        return inline_secret_file(data, "token")
