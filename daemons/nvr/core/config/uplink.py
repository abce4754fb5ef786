"""`uplink`: where reports, images and clips go (head office, HSE API, MinIO, MQTT)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator, model_validator

from nvr.core.config.base import SecretStr, Section, inline_secret_file, read_secret_file
from nvr.core.config.edge import EventClipsConfig, HeartbeatConfig, SocketIoConfig

# `nvrctl secret rotate` keeps the old site secret next to the new one under this suffix.
PREVIOUS_SUFFIX = ".previous"


def _https_or_http(url: str) -> str:
    if not url.startswith(("https://", "http://")):
        raise ValueError(f"must be an http:// or https:// URL, got {url!r}")
    return url


class HttpDestination(Section):
    """An HTTP receiver of reports."""

    url: str = Field(description="http(s) URL the reports are POSTed to")
    ca_file: Path | None = Field(default=None, description="private CA for TLS verification")
    verify_tls: bool = Field(
        default=True, description="keep true: off exposes reports to interception"
    )
    timeout_seconds: float = Field(default=10.0, gt=0, le=300, description="per request")

    @field_validator("url")
    @classmethod
    def _url(cls, url: str) -> str:
        return _https_or_http(url)


class HeadOfficeConfig(HttpDestination):
    """Head office: reports as they are, HMAC-signed with the site secret.

    After `nvrctl secret rotate`, the old secret waits in `<secret_file>.previous`: commands
    signed with it are still accepted for `rotation_window_hours` after it was written
    (docs/design/security.md, "Rotating the site secret"). Reports are always signed with
    the current secret.
    """

    secret: SecretStr | None = Field(
        default=None, description="HMAC-SHA256 signing secret of reports (or secret_file: PATH)"
    )
    previous_secret: SecretStr | None = Field(
        default=None, description="read from <secret_file>.previous; not written by hand"
    )
    previous_written_at: datetime | None = Field(
        default=None, description="when <secret_file>.previous was written (its mtime)"
    )
    rotation_window_hours: float = Field(
        default=24.0, gt=0, le=30 * 24, description="how long the previous secret still counts"
    )

    @model_validator(mode="before")
    @classmethod
    def _secret_files(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("secret_file") and "previous_secret" not in data:
            previous = Path(f"{data['secret_file']}{PREVIOUS_SUFFIX}")
            if previous.exists():
                data = {
                    **data,
                    "previous_secret": read_secret_file(str(previous), "secret_file (previous)"),
                    "previous_written_at": datetime.fromtimestamp(previous.stat().st_mtime, UTC),
                }
        return inline_secret_file(data, "secret")

    def secrets(self, now: datetime) -> tuple[SecretStr, ...]:
        """The current secret, then the previous one while its window lasts."""
        keys: tuple[SecretStr, ...] = () if self.secret is None else (self.secret,)
        if self.previous_secret is not None and self.previous_written_at is not None:
            window = timedelta(hours=self.rotation_window_hours)
            if now < self.previous_written_at + window:
                keys += (self.previous_secret,)
        return keys


class HseApiConfig(HttpDestination):
    """The central HSE platform's API, with a bearer token."""

    token: SecretStr | None = Field(
        default=None, description="bearer token of the HSE API (or token_file: PATH)"
    )

    @model_validator(mode="before")
    @classmethod
    def _token_file(cls, data: Any) -> Any:
        return inline_secret_file(data, "token")


class MinioConfig(Section):
    """The central S3 store (MinIO) for alarm images and clips."""

    endpoint: str = Field(description="host:port")
    access_key: str = Field(description="this site's access key")
    secret_key: SecretStr = Field(description="its secret key (or secret_key_file: PATH)")
    secure: bool = Field(default=True, description="HTTPS; keep true outside a lab")
    images_bucket: str = Field(
        default="alarm-images", description="event snapshots and `snapshot` commands"
    )
    recordings_bucket: str = Field(
        default="recordings", description="requested clips and offsite copies"
    )
    bandwidth_limit_kbps: int | None = Field(
        default=None, gt=0, description="cap on upload speed, kilobits per second"
    )
    part_size_mb: int = Field(default=16, ge=5, le=512, description="multipart part size")

    @model_validator(mode="before")
    @classmethod
    def _secret_key_file(cls, data: Any) -> Any:
        return inline_secret_file(data, "secret_key")

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, endpoint: str) -> str:
        if "://" in endpoint or "/" in endpoint:
            raise ValueError(f"must be host:port without a scheme or path, got {endpoint!r}")
        return endpoint


class MqttConfig(Section):
    """The MQTT broker of the HSE platform."""

    host: str = Field(description="the broker's host name or address")
    port: int = Field(default=8883, gt=0, lt=65536, description="8883 with TLS, 1883 without")
    username: str | None = Field(default=None, description="none: anonymous")
    password: SecretStr | None = Field(
        default=None, description="the broker password (or password_file: PATH)"
    )
    tls: bool = Field(default=True, description="keep true outside a lab")
    ca_file: Path | None = Field(default=None, description="private CA bundle for TLS")
    status_interval_seconds: float = Field(
        default=60.0, ge=5, description="periodic status JSON on status/<site id>/state"
    )

    @model_validator(mode="before")
    @classmethod
    def _password_file(cls, data: Any) -> Any:
        return inline_secret_file(data, "password")


class CommandsConfig(Section):
    """Commands from the centre (MQTT `control/<site_id>`): get_status, request_clip, snapshot."""

    enabled: bool = Field(default=True, description="false: every command is refused")
    secret: SecretStr | None = Field(
        default=None,
        description="HMAC key the centre signs commands with (or secret_file: PATH); default"
        " uplink.head_office.secret",
    )
    max_age_seconds: float = Field(
        default=600.0, gt=0, le=86_400, description="older (or future) commands are refused"
    )
    max_clip_seconds: int = Field(
        default=600, ge=1, le=3_600, description="longest clip a request_clip may ask for"
    )

    @model_validator(mode="before")
    @classmethod
    def _secret_file(cls, data: Any) -> Any:
        return inline_secret_file(data, "secret")


class UplinkConfig(Section):
    """All destinations; each one is optional."""

    head_office: HeadOfficeConfig | None = Field(
        default=None, description="head office's report receiver; none: no delivery there"
    )
    hse_api: HseApiConfig | None = Field(
        default=None, description="the central HSE platform's API; none: not used"
    )
    minio: MinioConfig | None = Field(
        default=None, description="the central S3 store for images and clips; none: not used"
    )
    mqtt: MqttConfig | None = Field(
        default=None, description="the HSE platform's MQTT broker; none: not used"
    )
    commands: CommandsConfig = Field(
        default=CommandsConfig(), description="signed commands from the centre over MQTT"
    )
    # The edge side of the HSE centre (docs/design/hse-edge.md).
    event_clips: EventClipsConfig = Field(
        default=EventClipsConfig(), description="a clip of every alarm, uploaded to MinIO"
    )
    heartbeat: HeartbeatConfig = Field(
        default=HeartbeatConfig(), description="the heartbeat to the HSE API and head office"
    )
    socketio: SocketIoConfig | None = Field(
        default=None, description="a Socket.IO centre (edge/cloud design); none: not used"
    )
    outbox_max_rows: int = Field(
        default=200_000,
        ge=100,
        description="reports kept while the WAN is down; overflow drops least important first",
    )
    outbox_max_mb: int = Field(default=512, ge=1, description="outbox bound in MiB")
    batch_max_reports: int = Field(
        default=500, ge=1, le=5_000, description="reports per POST when behind (head office)"
    )
    retry_initial_seconds: float = Field(
        default=1.0, gt=0, le=600, description="first retry delay; doubles, with jitter"
    )
    retry_max_seconds: float = Field(
        default=300.0, gt=0, le=3_600, description="longest retry delay"
    )
    circuit_failures: int = Field(
        default=5, ge=1, le=100, description="consecutive failures that open the circuit"
    )
    circuit_open_seconds: float = Field(
        default=60.0, gt=0, le=3_600, description="how long an open circuit waits"
    )

    def commands_secrets(self, now: datetime) -> tuple[SecretStr, ...]:
        """The keys commands are checked with: their own, else the site secret(s) in force."""
        if self.commands.secret is not None:
            return (self.commands.secret,)
        return self.head_office.secrets(now) if self.head_office is not None else ()
