"""`uplink.event_clips`, `uplink.heartbeat`, `uplink.socketio`: the edge side of the HSE centre.

See docs/design/hse-edge.md.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator, model_validator

from nvr.core.config.base import SecretStr, Section, inline_secret_file


class EventClipsConfig(Section):
    """A clip of every alarm (a critical event of a camera) in MinIO's recordings bucket."""

    enabled: bool = Field(
        default=True, description="cut a clip per alarm (needs uplink.minio to upload it)"
    )
    before_seconds: int = Field(
        default=10, ge=0, le=600, description="seconds of video before the alarm"
    )
    after_seconds: int = Field(
        default=20, ge=1, le=600, description="seconds of video after the alarm"
    )


class HeartbeatConfig(Section):
    """A small "I am alive" to the HSE API and head office, apart from the status report."""

    enabled: bool = Field(default=True, description="send heartbeats (when a destination is set)")
    # A third of the centre's 120 s timeout: one lost or late heartbeat does not mark a
    # running box offline (docs/design/hse-edge.md, "Heartbeat").
    interval_seconds: float = Field(
        default=40.0,
        ge=1,
        le=3_600,
        description="seconds between heartbeats; the centre times a box out after 120 s",
    )
    head_office_url: str | None = Field(
        default=None,
        description="head office's heartbeat URL (nvr-headoffice: <base>/api/nvr/heartbeat),"
        " signed with the site secret; none: heartbeats go to the HSE API only",
    )

    @field_validator("head_office_url")
    @classmethod
    def _url(cls, url: str | None) -> str | None:
        if url is not None and not url.startswith(("https://", "http://")):
            raise ValueError(f"must be an http:// or https:// URL, got {url!r}")
        return url


class SocketIoConfig(Section):
    """A centre that speaks Socket.IO (the edge/cloud design): alerts, status, commands."""

    url: str = Field(description="the centre's Socket.IO URL, http(s)://host:port")
    edge_id: str = Field(min_length=1, max_length=128, description="this box's id at the centre")
    edge_secret: SecretStr = Field(description="the centre's secret for this box (or _file)")
    status_interval_seconds: float = Field(
        default=60.0, ge=1, le=3_600, description="seconds between `status` events"
    )

    @model_validator(mode="before")
    @classmethod
    def _edge_secret_file(cls, data: Any) -> Any:
        return inline_secret_file(data, "edge_secret")

    @field_validator("url")
    @classmethod
    def _url(cls, url: str) -> str:
        if not url.startswith(("https://", "http://")):
            raise ValueError(f"must be an http:// or https:// URL, got {url!r}")
        return url
