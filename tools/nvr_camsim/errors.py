"""Errors of the camera simulator, under the project's root `NvrError`."""

from nvr.core.errors import NvrError


class CamsimError(NvrError):
    """The simulated cameras could not be prepared, started or controlled."""


class ClipError(CamsimError):
    """A test clip could not be encoded."""


class MediamtxError(CamsimError):
    """mediamtx did not start, answer or stop as expected."""
