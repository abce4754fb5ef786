"""The root of the configuration: every section, plus checks across sections."""

from __future__ import annotations

from pydantic import Field, model_validator

from nvr.core.config.base import Section
from nvr.core.config.cameras import CameraConfig
from nvr.core.config.disk import DiskConfig
from nvr.core.config.health import HealthConfig
from nvr.core.config.hse import HseConfig
from nvr.core.config.livestream import LivestreamConfig
from nvr.core.config.logs import LoggingConfig
from nvr.core.config.recording import RecordingConfig
from nvr.core.config.report import ReportConfig
from nvr.core.config.site import SiteConfig
from nvr.core.config.storage import StorageConfig
from nvr.core.config.uplink import UplinkConfig
from nvr.core.config.validation import ValidationConfig


class Config(Section):
    """The whole of nvr.yaml. Immutable: a reload builds a new one."""

    # One module per section (nvr.core.config.<section>); `nvrctl config schema` prints
    # every key with its type, default and description.
    site: SiteConfig = Field(description="who this appliance is, as head office knows it")
    storage: StorageConfig = Field(
        default=StorageConfig(), description="where the recordings and the state file live"
    )
    recording: RecordingConfig = Field(
        default=RecordingConfig(), description="how nvr-backup records"
    )
    disk: DiskConfig = Field(
        default=DiskConfig(), description="how nvr-hddmon keeps the recordings disk healthy"
    )
    validation: ValidationConfig = Field(
        default=ValidationConfig(), description="how nvr-validator checks each camera"
    )
    livestream: LivestreamConfig = Field(
        default=LivestreamConfig(), description="live view through mediamtx (nvr-livestream)"
    )
    health: HealthConfig = Field(
        default=HealthConfig(), description="the NOC endpoint of nvr-health and its thresholds"
    )
    report: ReportConfig = Field(default=ReportConfig(), description="reports nvr-report builds")
    uplink: UplinkConfig = Field(
        default=UplinkConfig(), description="where nvr-uplink delivers reports, images and clips"
    )
    hse: HseConfig | None = Field(
        default=None,
        description="the interface the central HSE backend registers (nvr-hse); none: idle",
    )
    logging: LoggingConfig = Field(default=LoggingConfig(), description="how the daemons log")
    cameras: tuple[CameraConfig, ...] = Field(
        default=(), max_length=64, description="the cameras, in the order they are shown"
    )

    def duplicate_camera(self) -> tuple[int, int] | None:
        """Indexes (first, second) of the first camera id used twice, or None.

        Checked by the loader rather than a validator so the error can name
        `cameras[N].id` instead of the whole list.
        """
        first_index: dict[str, int] = {}
        for index, camera in enumerate(self.cameras):
            if camera.id in first_index:
                return first_index[camera.id], index
            first_index[camera.id] = index
        return None

    @property
    def enabled_cameras(self) -> tuple[CameraConfig, ...]:
        """Cameras with `enabled: true`, in file order."""
        return tuple(c for c in self.cameras if c.enabled)

    @model_validator(mode="after")
    def _shared_session_can_publish(self) -> Config:
        # A single-session camera's live view is published by nvr-backup; without the
        # publisher's credentials mediamtx would refuse it and live view would stay dark.
        single = [c.id for c in self.cameras if c.live_via_recorder]
        live = self.livestream
        if single and (live.publisher is None or live.publisher_password is None):
            raise ValueError(
                f"cameras {', '.join(single)} have sessions: 1: set livestream.publisher"
                " and livestream.publisher_password(_file) so nvr-backup can publish"
                " their live view"
            )
        return self

    def camera(self, camera_id: str) -> CameraConfig | None:
        """The camera with this id, or None."""
        return next((c for c in self.cameras if c.id == camera_id), None)
