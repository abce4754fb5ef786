"""Errors of nvr-validator; every message is one line without a password."""

from __future__ import annotations

from nvr.core.errors import NvrError


class ValidatorError(NvrError):
    """Base of nvr-validator's errors."""


class ToolFailed(ValidatorError):
    """ffprobe or ffmpeg exited with an error, timed out, or was stopped."""


class ToolTimedOut(ToolFailed):
    """ffprobe or ffmpeg did not finish within the check's timeout."""


class NoFrames(ValidatorError):
    """The stream delivered no decodable picture."""


class UnknownCamera(ValidatorError):
    """`nvrctl validate --camera` named a camera that is not configured."""
