"""Sections of the daemons that watch and serve: validator, livestream, health, report."""

from __future__ import annotations

import ipaddress
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator, model_validator

from nvr.core.config.base import SecretStr, Section, inline_secret_file
from nvr.core.config.viewers import ViewerAccount
from nvr.core.redact import Secret


def _check_listen(value: str) -> str:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"must be HOST:PORT, got {value!r}")
    return value


class ListenMixin(Section):
    """A section with a `listen: HOST:PORT` key."""

    listen: str

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        return _check_listen(value)


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and `localhost`: addresses only this machine can reach."""
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class ServedSection(ListenMixin):
    """A daemon's HTTP endpoints: plain HTTP on `listen`, HTTPS on `tls_listen`.

    Plain HTTP beyond this machine needs the operator's word (docs/design/security.md,
    invariant 3): a password typed into a plain-HTTP page crosses the LAN readable.
    """

    tls_listen: str | None = Field(
        default=None, description="HOST:PORT served over HTTPS (e.g. 0.0.0.0:8443); none: off"
    )
    tls_cert_file: Path = Field(
        default=Path("/etc/nvr/tls/nvr.crt"),
        description="PEM certificate (chain) for tls_listen; the installer makes a self-signed one",
    )
    tls_key_file: Path = Field(
        default=Path("/etc/nvr/tls/nvr.key"), description="PEM private key for tls_listen"
    )
    plain_http_anywhere: bool = Field(
        default=False, description="allow `listen` on an address other machines can reach"
    )

    @field_validator("tls_listen")
    @classmethod
    def _tls_listen(cls, value: str | None) -> str | None:
        return None if value is None else _check_listen(value)

    @model_validator(mode="after")
    def _plain_only_on_loopback(self) -> ServedSection:
        host = self.listen.rpartition(":")[0]
        if not is_loopback(host) and not self.plain_http_anywhere:
            raise ValueError(
                f"listen {self.listen} would serve plain HTTP to the network: serve the LAN"
                " on tls_listen, or set plain_http_anywhere: true"
            )
        return self


class ValidationConfig(Section):
    """How often and how hard nvr-validator looks at each camera."""

    interval_seconds: float = Field(default=300.0, ge=10, le=86400)
    workers: int = Field(default=4, ge=1, le=32)
    timeout_seconds: float = Field(default=20.0, gt=0, le=300)
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


class LivestreamConfig(ServedSection):
    """mediamtx control and the viewer API."""

    listen: str = "127.0.0.1:8081"
    mediamtx_api: str = Field(default="http://127.0.0.1:9997")
    public_host: str | None = Field(
        default=None,
        description="host put into viewer URLs; none: the box's primary address",
    )
    rtsp_port: int = Field(default=8554, gt=0, lt=65536)
    hls_port: int = Field(default=8888, gt=0, lt=65536)
    webrtc_port: int = Field(default=8889, gt=0, lt=65536)
    on_demand: bool = True
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
        description="password of mediamtx's API for nvr-livestream; none: random per process",
    )
    publisher_password: SecretStr | None = Field(
        default=None,
        description="the publisher's password, for nvr-backup to publish the stream of"
        " single-session cameras (`sessions: 1`); or publisher_password_file",
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

    listen: str = "127.0.0.1:8080"
    token: SecretStr | None = Field(
        default=None,
        description="bearer token the NOC (Prometheus) sends to /health, /ready and /metrics",
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
    crash_loop_window_seconds: float = Field(default=600.0, ge=10, le=86_400)
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
        default=95.0, gt=0, le=100, description="usage above disk.high_watermark_percent warns"
    )
    uplink_warning_seconds: float = Field(default=900.0, ge=10, le=7 * 86_400)
    uplink_critical_seconds: float = Field(default=3600.0, ge=10, le=30 * 86_400)
    mediamtx_check: MediamtxCheck = MediamtxCheck.AUTO
    page_refresh_seconds: int = Field(default=30, ge=5, le=3600)

    @model_validator(mode="before")
    @classmethod
    def _token_file(cls, data: Any) -> Any:
        return inline_secret_file(data, "token")


class ReportConfig(Section):
    """Periodic and event reports."""

    status_interval_minutes: int = Field(default=15, ge=1, le=1440)
    daily_summary_at: str = Field(default="00:05", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    event_coalesce_seconds: int = Field(
        default=300, ge=0, le=86_400, description="at most one event report per camera per window"
    )
