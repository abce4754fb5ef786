"""Config parsing: PyYAML's C loader, and a size cap that refuses the wrong file in one line."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from nvr.core.config import load_config
from nvr.core.config.loader import MAX_CONFIG_BYTES

pytestmark = pytest.mark.timeout(60)


def test_pyyaml_has_its_c_loader() -> None:
    """The venv's PyYAML was built with libyaml: the loader the daemons use is the fast one."""
    assert yaml.__with_libyaml__


def test_a_10_mb_file_is_refused_in_one_line(
    write_config: Callable[..., Path], nvrctl: list[str]
) -> None:
    path = write_config()
    padding = "# " + "x" * 1021 + "\n"  # 1 KiB a line
    with path.open("a") as handle:
        handle.write(padding * (10 * 1024))  # a 10 MB file, the size that took 8-25 s
    done = subprocess.run(
        [*nvrctl, "config", "check", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        f"nvrctl: error: {path}: config file larger than 256 KiB (10.0 MiB):"
        " is this the right file?"
    ]


def test_a_full_size_config_still_loads(write_config: Callable[..., Path]) -> None:
    cameras = [
        {"id": f"cam{i:03d}", "url": f"rtsp://admin:pw@10.0.{i // 250}.{i % 250}/stream1"}
        for i in range(64)
    ]
    path = write_config(cameras=cameras)
    assert path.stat().st_size < MAX_CONFIG_BYTES
    assert len(load_config(path).cameras) == 64
