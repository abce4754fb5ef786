"""`livestream`: live view through mediamtx, run by nvr-livestream (docs/design/livestream.md)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import Field, field_validator, model_validator

from nvr.core.config.base import SecretStr, inline_secret_file
from nvr.core.config.served import ServedSection
from nvr.core.config.viewers import ViewerAccount
from nvr.core.redact import Secret


class MediaTls(StrEnum):
    """Whether mediamtx serves viewers over TLS (HLS and WebRTC over HTTPS, RTSPS)."""

    AUTO = "auto"  # on when the certificate and key exist (the installer makes them)
    ON = "on"
    OFF = "off"


class LivestreamConfig(ServedSection):
    """mediamtx control and the viewer API."""

    listen: str = Field(
        default="127.0.0.1:8081",
        description="plain-HTTP address of the viewer API and mediamtx's auth callback",
    )
    mediamtx_api: str = Field(
        default="http://127.0.0.1:9997", description="mediamtx control API (keep it on localhost)"
    )
    public_host: str | None = Field(
        default=None,
        description="host put into viewer URLs; none: the box's primary address",
    )
    rtsp_port: int = Field(default=8554, gt=0, lt=65536, description="mediamtx's RTSP port")
    hls_port: int = Field(default=8888, gt=0, lt=65536, description="mediamtx's HLS port")
    webrtc_port: int = Field(default=8889, gt=0, lt=65536, description="mediamtx's WebRTC port")
    rtsps_port: int = Field(
        default=8322, gt=0, lt=65536, description="mediamtx's RTSPS (RTSP over TLS) port"
    )
    media_tls: MediaTls = Field(
        default=MediaTls.AUTO,
        description="TLS for viewers on mediamtx (HTTPS for HLS/WebRTC, RTSPS; plain RTSP on"
        " loopback only) with tls_cert_file/tls_key_file; auto: on when both exist",
    )
    on_demand: bool = Field(
        default=True, description="a camera is pulled only while somebody watches"
    )
    reconcile_seconds: float = Field(
        default=10.0, ge=1, le=600, description="compare mediamtx's paths to the cameras"
    )
    viewers: tuple[ViewerAccount, ...] = Field(
        default=(), max_length=256, description="who may watch which camera"
    )
    publisher: str | None = Field(
        default=None, description="the one viewer account allowed to publish; none by default"
    )
    mediamtx_api_secret: SecretStr | None = Field(
        default=None,
        description="password of mediamtx's API for nvr-livestream; none: random per process"
        " (or mediamtx_api_secret_file: PATH)",
    )
    publisher_password: SecretStr | None = Field(
        default=None,
        description="the publisher's password, for nvr-backup to publish the stream of"
        " single-session cameras (`sessions: 1`); or publisher_password_file: PATH",
    )

    @model_validator(mode="before")
    @classmethod
    def _api_secret_file(cls, data: Any) -> Any:
        return inline_secret_file(data, "mediamtx_api_secret")

    @model_validator(mode="before")
    @classmethod
    def _publisher_password_file(cls, data: Any) -> Any:
        return inline_secret_file(data, "publisher_password")

    @field_validator("publisher_password")
    @classmethod
    def _no_colon(cls, password: Secret | None) -> Secret | None:
        # ffmpeg 5.1's RTSP client fails a password with ':' even percent-encoded (401);
        # every other character works encoded.
        if password is not None and ":" in password.reveal():
            raise ValueError("must not contain ':' (ffmpeg cannot send it over RTSP)")
        return password

    @model_validator(mode="after")
    def _publisher_is_a_viewer(self) -> LivestreamConfig:
        users = [viewer.user for viewer in self.viewers]
        if len(set(users)) != len(users):
            raise ValueError("viewers: a user name is used twice")
        if self.publisher is not None and self.publisher not in users:
            raise ValueError(f"publisher {self.publisher!r} is not one of the viewers")
        return self
