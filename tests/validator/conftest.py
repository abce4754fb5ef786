"""The validator tests use the shared simulator (tests/conftest.py) at its picture size."""

from __future__ import annotations

from nvrtest import SIM_HEIGHT as HEIGHT
from nvrtest import SIM_WIDTH as WIDTH

__all__ = ["HEIGHT", "WIDTH"]
