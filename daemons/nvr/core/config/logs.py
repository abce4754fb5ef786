"""How the daemons write their logs (docs/operator-guide.md, "Reading the logs")."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from nvr.core.config.base import Section


class LogFormat(StrEnum):
    """The log format when not under journald (which always gets fields natively)."""

    TEXT = "text"
    JSON = "json"  # one object per line, for a log shipper


class LoggingConfig(Section):
    """Log output; `--log-format` on a daemon's command line wins."""

    format: LogFormat = Field(
        default=LogFormat.TEXT,
        description="text lines, or json (one object per line for a log shipper), when not"
        " under journald",
    )
