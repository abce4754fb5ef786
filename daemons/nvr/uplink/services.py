"""nvr-uplink's background services beside the report destinations: MinIO uploads, MQTT.

Each service owns its threads; the daemon starts them, asks them for a status line and a
heartbeat detail, and stops them on SIGTERM or when their settings change.
"""

from __future__ import annotations

from typing import Any, Protocol

from nvr.core.config import Config
from nvr.uplink.eventclip_service import EventClipService
from nvr.uplink.heartbeat import HeartbeatService, heartbeat_targets
from nvr.uplink.mqtt import MqttService
from nvr.uplink.socketio_link import SocketIoService
from nvr.uplink.uploader import UploadService


class Service(Protocol):
    """What the daemon needs from a background service."""

    name: str

    def start(self) -> None:
        """Start the service's threads (returns at once)."""
        ...

    def stop(self, timeout: float) -> None:
        """Stop the threads, waiting up to `timeout` seconds."""
        ...

    def status_text(self) -> str:
        """A short phrase for the STATUS line, e.g. `MinIO ok (3 pending)`."""
        ...

    def detail(self) -> dict[str, Any]:
        """Figures for the heartbeat detail (never a credential)."""
        ...


def build_services(config: Config) -> list[Service]:
    """The services the config asks for, in start order."""
    services: list[Service] = []
    if config.uplink.minio is not None:  # uploads and offsite copy (docs/design/objects.md)
        services.append(UploadService(config))
        if config.uplink.event_clips.enabled:  # a clip per alarm (docs/design/hse-edge.md)
            services.append(EventClipService(config))
    if config.uplink.heartbeat.enabled and heartbeat_targets(config):
        services.append(HeartbeatService(config))  # docs/design/hse-edge.md, "Heartbeat"
    if config.uplink.mqtt is not None:  # status and commands (docs/design/commands.md)
        services.append(MqttService(config, config.uplink.mqtt))
    if config.uplink.socketio is not None:  # an edge/cloud centre (docs/design/hse-edge.md)
        services.append(SocketIoService(config, config.uplink.socketio))
    return services
