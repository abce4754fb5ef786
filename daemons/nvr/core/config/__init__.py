"""Configuration: one YAML file validated into immutable typed objects.

Import from here; the submodules are one per section.
"""

from nvr.core.config.cameras import CameraConfig, CameraExpect
from nvr.core.config.disk import DiskConfig
from nvr.core.config.health import HealthConfig, MediamtxCheck
from nvr.core.config.livestream import LivestreamConfig
from nvr.core.config.loader import DEFAULT_PATH, ENV_VAR, load_config, parse_config, resolve_path
from nvr.core.config.model import Config
from nvr.core.config.recording import (
    AudioPolicy,
    BackoffConfig,
    Container,
    RecordingConfig,
    RtspTransport,
)
from nvr.core.config.storage import StorageConfig

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
    "HealthConfig",
    "LivestreamConfig",
    "MediamtxCheck",
    "RecordingConfig",
    "RtspTransport",
    "StorageConfig",
    "load_config",
    "parse_config",
    "resolve_path",
]
