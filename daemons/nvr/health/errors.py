"""Errors nvr-health raises on purpose."""

from __future__ import annotations

from nvr.core.errors import NvrError


class HealthError(NvrError):
    """Base of nvr-health's errors."""


class ListenError(HealthError):
    """The health.listen address cannot be bound."""
