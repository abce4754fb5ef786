"""Errors of nvr-uplink."""

from __future__ import annotations

from nvr.core.errors import NvrError


class UplinkError(NvrError):
    """Base of every nvr-uplink error."""


class AdapterError(UplinkError):
    """An outbox row a destination adapter cannot turn into a request."""
