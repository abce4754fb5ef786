"""`livestream.viewers`: who may watch which camera (and who may publish).

Passwords are stored as scrypt hashes made by `python -m nvr.livestream.hashpw`; the
format is checked here, the verification lives in `nvr.core.passwords`.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field, field_validator

from nvr.core.config.base import ID_PATTERN, Section

# scrypt$<log2 n>$<r>$<p>$<salt, base64>$<hash, base64>: the parameters travel with the
# hash so they can be raised later without invalidating existing accounts.
PASSWORD_HASH_PATTERN = (
    r"^scrypt\$\d{1,2}\$\d{1,2}\$\d{1,2}\$[A-Za-z0-9+/=]{16,}\$[A-Za-z0-9+/=]{16,}$"
)
USER_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$"
ALL_CAMERAS = "*"
# What an operator writes to grant every camera: `cameras: all`.
ALL_KEYWORD = "all"


class ViewerAccount(Section):
    """One viewer account: a login and the cameras it may watch."""

    user: str = Field(pattern=USER_PATTERN, description="login name")
    password_hash: str = Field(
        pattern=PASSWORD_HASH_PATTERN,
        description="scrypt hash from `python -m nvr.livestream.hashpw` (never the password)",
    )
    # Deny by default (docs/design/security.md, invariant 2): an account written without
    # `cameras:` watches nothing; every camera must be granted in words, `cameras: all`.
    cameras: tuple[str, ...] = Field(
        default=(), description="camera ids this viewer may watch; `all` for every camera"
    )

    # Protecting keeps video past retention and can fill the disk: a right of its own,
    # off by default (docs/design/playback.md, invariant 6).
    may_protect: bool = Field(
        default=False,
        description="may protect ranges of its cameras from the playback page",
    )

    @field_validator("cameras", mode="before")
    @classmethod
    def _all_keyword(cls, cameras: Any) -> Any:
        return (ALL_CAMERAS,) if cameras == ALL_KEYWORD else cameras

    @field_validator("cameras")
    @classmethod
    def _camera_ids(cls, cameras: tuple[str, ...]) -> tuple[str, ...]:
        for camera in cameras:
            if camera != ALL_CAMERAS and not re.match(ID_PATTERN, camera):
                raise ValueError(f"{camera!r} is not a camera id (write `cameras: all` for all)")
        return cameras

    def may_watch(self, camera_id: str) -> bool:
        """True when this account may read `camera_id`."""
        return ALL_CAMERAS in self.cameras or camera_id in self.cameras
