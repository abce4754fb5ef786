"""Errors of nvr-hddmon: one base, narrow leaves."""

from nvr.core.errors import NvrError


class HddmonError(NvrError):
    """Base of every error nvr-hddmon raises on purpose."""


class ProtectionError(HddmonError):
    """A protection (evidence range) request is invalid: unknown camera, empty range."""


class SmartError(HddmonError):
    """smartctl ran but its answer could not be read as JSON."""
