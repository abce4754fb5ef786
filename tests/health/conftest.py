from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from nvrtest.box import Box, make_box


@pytest.fixture
def box(tmp_path: Path) -> Iterator[Box]:
    made = make_box(tmp_path)
    yield made
    made.store.close()
