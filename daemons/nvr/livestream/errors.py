"""Errors of nvr-livestream; messages are one line and never carry a secret."""

from __future__ import annotations

from nvr.core.errors import NvrError


class LivestreamError(NvrError):
    """Base of every error nvr-livestream raises on purpose."""


class MediamtxUnreachable(LivestreamError):
    """mediamtx's control API did not answer (down, restarting, wrong address)."""


class MediamtxRefused(LivestreamError):
    """mediamtx answered a control request with an error status."""
