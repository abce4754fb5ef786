"""`cameras`: the list of cameras, what each must deliver, and its policies."""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator, model_validator

from nvr.core.config.base import Identifier, SecretUrlStr, Section, read_secret_file
from nvr.core.config.recording import RtspTransport
from nvr.core.redact import SecretUrl


def _bad_port(url: SecretUrl) -> bool:
    try:
        url.port  # noqa: B018 -- parsing the port is the check
    except ValueError:
        return True
    return False


class CameraExpect(Section):
    """What the camera is supposed to send; the validator compares the stream to it."""

    codec: str | None = Field(default=None, description="e.g. h264, hevc")
    width: int | None = Field(default=None, ge=16, le=16384, description="picture width, px")
    height: int | None = Field(default=None, ge=16, le=16384, description="picture height, px")
    fps: float | None = Field(default=None, gt=0, le=240, description="frames per second")
    ignore_regions: list[tuple[float, float, float, float]] = Field(
        default_factory=list,
        description="areas the picture checks ignore (x, y, width, height as fractions 0-1),"
        " e.g. a large OSD or a tree moving in the wind",
    )

    @field_validator("ignore_regions")
    @classmethod
    def _regions_inside(
        cls, regions: list[tuple[float, float, float, float]]
    ) -> list[tuple[float, float, float, float]]:
        for x, y, width, height in regions:
            if min(x, y) < 0 or width <= 0 or height <= 0 or x + width > 1 or y + height > 1:
                raise ValueError(f"region {[x, y, width, height]} is not inside 0..1")
        return regions


class CameraConfig(Section):
    """One camera."""

    id: Identifier = Field(
        description="camera id: names its recordings directory, live path and topics"
    )
    name: str = Field(
        default="", max_length=200, description="shown in reports and on the status page"
    )
    url: SecretUrlStr = Field(
        description="rtsp:// or rtsps:// URL; percent-encode a password with @ : / # ? or"
        " give it in password_file: PATH, which replaces the URL's password"
    )
    enabled: bool = Field(
        default=True, description="false: configured but neither recorded, validated nor streamed"
    )
    expect: CameraExpect = Field(
        default=CameraExpect(),
        description="what the stream must look like; the validator warns on a mismatch",
    )
    retention_days: int | None = Field(
        default=None, ge=1, le=3650, description="overrides disk.retention_days for this camera"
    )
    record: bool = Field(default=True, description="recorded by nvr-backup")
    offsite_copy: bool = Field(default=False, description="copy segments to MinIO")
    sessions: int | None = Field(
        default=None,
        ge=1,
        le=16,
        description="RTSP sessions the camera serves at once; 1: live view goes through the"
        " recorder's session (nvr-backup publishes the stream to mediamtx)",
    )
    rtsp_transport: RtspTransport | None = Field(
        default=None, description="overrides recording.rtsp_transport for this camera"
    )

    @model_validator(mode="before")
    @classmethod
    def _password_from_file(cls, data: Any) -> Any:
        # `password_file` keeps the password out of nvr.yaml; it replaces the URL's password
        # and is taken literally (any character; SecretUrl encodes it for the URL).
        if not isinstance(data, dict) or "password_file" not in data:
            return data
        data = dict(data)
        password = read_secret_file(str(data.pop("password_file")), "password_file")
        url = data.get("url")
        if not isinstance(url, str):
            raise ValueError("password_file needs url")
        data["url"] = SecretUrl(url).with_password(password)
        return data

    @field_validator("url")
    @classmethod
    def _rtsp_url(cls, url: SecretUrl) -> SecretUrl:
        if url.scheme not in ("rtsp", "rtsps"):
            raise ValueError(f"must be an rtsp:// or rtsps:// URL, got {url.redacted}")
        # A raw '#', '?' or '/' in a password cuts the URL before the host (the rest becomes
        # a fragment, a query or a path): say how to write it instead of failing later.
        if url.has_fragment or _bad_port(url):
            raise ValueError(
                "cannot be parsed: percent-encode the password (%23 for #, %3F for ?,"
                " %2F for /) or put it in password_file"
            )
        if not url.host:
            raise ValueError(f"has no host: {url.redacted}")
        return url

    @property
    def live_via_recorder(self) -> bool:
        """Live view rides on the recorder's session: a recorded single-session camera."""
        return self.sessions == 1 and self.record

    @property
    def label(self) -> str:
        """`cam01 (Entrance gate)` for messages."""
        return f"{self.id} ({self.name})" if self.name else self.id
