"""A real small filesystem per test: a loop-mounted ext4 image, always unmounted."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from nvrtest import loop_mounted

IMAGE_SIZE = "64M"


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """Mount point of a fresh 64 MiB ext4 filesystem (about 57 MB usable)."""
    with loop_mounted(tmp_path, IMAGE_SIZE) as mount_point:
        yield mount_point


@pytest.fixture
def recordings(small_fs: Path) -> Path:
    """The recordings directory at the root of the small filesystem."""
    return small_fs
