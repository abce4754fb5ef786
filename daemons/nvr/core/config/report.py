"""`report`: the periodic and event reports nvr-report builds."""

from __future__ import annotations

from pydantic import Field

from nvr.core.config.base import Section


class ReportConfig(Section):
    """Periodic and event reports."""

    status_interval_minutes: int = Field(
        default=15, ge=1, le=1440, description="a status report every this many minutes"
    )
    daily_summary_at: str = Field(
        default="00:05",
        pattern=r"^([01]\d|2[0-3]):[0-5]\d$",
        description="time of day (HH:MM, local) of the daily summary report",
    )
    event_coalesce_seconds: int = Field(
        default=300, ge=0, le=86_400, description="at most one event report per camera per window"
    )
