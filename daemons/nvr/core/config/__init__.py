"""Configuration: one YAML file validated into immutable typed objects.

Import from here; the submodules are one per section.
"""

from nvr.core.config.cameras import CameraConfig, CameraExpect
from nvr.core.config.loader import DEFAULT_PATH, ENV_VAR, load_config, parse_config, resolve_path
from nvr.core.config.model import Config
from nvr.core.config.storage import (
    AudioPolicy,
    BackoffConfig,
    Container,
    DiskConfig,
    RecordingConfig,
    RtspTransport,
    StorageConfig,
)

__all__ = [
    "DEFAULT_PATH",
    "ENV_VAR",
    "AudioPolicy",
    "BackoffConfig",
    "CameraConfig",
    "CameraExpect",
    "Config",
    "Container",
    "DiskConfig",
    "RecordingConfig",
    "RtspTransport",
    "StorageConfig",
    "load_config",
    "parse_config",
    "resolve_path",
]
