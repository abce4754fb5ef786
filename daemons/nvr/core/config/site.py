"""`site`: who this appliance is, as head office knows it."""

from __future__ import annotations

from pydantic import Field

from nvr.core.config.base import Identifier, Section


class SiteConfig(Section):
    """Identity of the site; `id` appears in every report, topic and object key."""

    id: Identifier = Field(description="site id, e.g. smg-01")
    name: str = Field(default="", max_length=200, description="human-readable site name")
