"""Errors of nvr-report."""

from __future__ import annotations

from nvr.core.errors import NvrError


class ReportError(NvrError):
    """Base of every nvr-report error."""
