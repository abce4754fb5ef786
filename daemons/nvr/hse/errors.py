"""Errors nvr-hse raises on purpose."""

from __future__ import annotations

from nvr.core.errors import NvrError


class HseError(NvrError):
    """Base of nvr-hse's errors."""


class ListenError(HseError):
    """hse.listen cannot be bound."""


class SnapshotError(HseError):
    """No picture could be taken from a camera's recording."""
