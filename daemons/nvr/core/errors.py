"""The exception tree: one root, a base per area, narrow leaves.

Every message is one line a technician can act on and never carries a secret.
"""


class NvrError(Exception):
    """Root of every error the appliance raises on purpose."""


class ConfigError(NvrError):
    """The configuration file is missing, unreadable or invalid."""


class StateError(NvrError):
    """The state file cannot be opened, migrated or written."""


class MissingToolError(NvrError):
    """An external program (ffmpeg, mediamtx, ...) is not installed."""
