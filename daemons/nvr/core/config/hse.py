"""`hse`: the interface the central HSE backend registers this box by (nvr-hse).

See docs/design/hse.md.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field, model_validator

from nvr.core.config.base import SecretStr, inline_secret_file
from nvr.core.config.served import ServedSection


class HseConfig(ServedSection):
    """The box's HSE API, alarm WebSocket and ingest API on one port (default 2323).

    Served like nvr-health and the viewer API (docs/design/security.md, invariant 3):
    plain HTTP/WS on loopback unless plain_http_anywhere, HTTPS/WSS on tls_listen. A
    plain listen beyond loopback is refused by nvr-hse when it starts, not when the
    config loads: boxes set up before this rule have `listen: 0.0.0.0:2323`, and the other
    daemons (recording first) must not refuse their config for it.
    """

    refuse_plain_at_load: ClassVar[bool] = False

    listen: str = Field(
        default="127.0.0.1:2323",
        description="HOST:PORT of the API (/api), the alarm WebSocket (/alarm/) and ingest"
        " in plain HTTP/WS (loopback only, unless plain_http_anywhere is true)",
    )
    token: SecretStr = Field(
        description="the centre's token (Authorization: Bearer, or ?token=); use token_file"
    )
    ingest_token: SecretStr | None = Field(
        default=None,
        description="token of the site's own systems for POST /api/events; none: `token`",
    )
    public_url: str | None = Field(
        default=None,
        description="base URL the centre reaches this box at (image_url, the advertised"
        " api_url/alarm_ws_url/webrtc_url); none: from tls_listen, else listen",
    )
    replay_max_messages: int = Field(
        default=500, ge=1, le=10_000, description="most alarms replayed to a reconnecting client"
    )
    replay_max_age_seconds: int = Field(
        default=86_400, ge=60, le=30 * 86_400, description="oldest alarm replayed"
    )
    ingest_per_minute: int = Field(
        default=60, ge=1, le=6_000, description="ingest requests per client per minute"
    )
    ingest_burst: int = Field(
        default=10, ge=1, le=1_000, description="requests a client may send at once"
    )

    @model_validator(mode="before")
    @classmethod
    def _token_files(cls, data: Any) -> Any:
        return inline_secret_file(inline_secret_file(data, "token"), "ingest_token")
