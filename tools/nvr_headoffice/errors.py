"""Errors nvr-headoffice raises on purpose; each message is one line and names no secret."""

from __future__ import annotations

from nvr.core.errors import NvrError


class HeadOfficeError(NvrError):
    """Base of nvr-headoffice's errors."""


class SitesFileError(HeadOfficeError):
    """The sites file is missing, unreadable or invalid."""


class DatabaseError(HeadOfficeError):
    """The report database cannot be opened or written."""


class ListenError(HeadOfficeError):
    """The --listen address cannot be bound."""


class Refused(HeadOfficeError):
    """A POST the receiver refuses: the HTTP status and a reason the site can act on."""

    def __init__(self, status: int, reason: str, detail: str = "") -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        # For our log only, never the answer (e.g. that the site is unknown, which the
        # answer keeps to itself so sites cannot be enumerated).
        self.detail = detail
