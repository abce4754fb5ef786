"""A real small filesystem per test: a loop-mounted ext4 image, always unmounted."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

IMAGE_SIZE = "64M"


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """Mount point of a fresh 64 MiB ext4 filesystem (about 57 MB usable)."""
    image = tmp_path / "disk.img"
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    subprocess.run(["truncate", "-s", IMAGE_SIZE, str(image)], check=True)
    subprocess.run(["mkfs.ext4", "-q", "-F", str(image)], check=True)
    subprocess.run(["mount", "-o", "loop", str(image), str(mount_point)], check=True)
    try:
        yield mount_point
    finally:
        result = subprocess.run(["umount", str(mount_point)], check=False, capture_output=True)
        if result.returncode != 0:
            # Something (a failed test's child) still holds it: detach lazily, never leak.
            subprocess.run(["umount", "-l", str(mount_point)], check=False)


@pytest.fixture
def recordings(small_fs: Path) -> Path:
    """The recordings directory at the root of the small filesystem."""
    return small_fs
