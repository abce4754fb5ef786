"""Fixtures of the appliance tests: the cached Debian 12 tree and the .deb of `make deb`."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from appliance.nspawn import REPO, build_rootfs
from nvr.core.tools import require_tool


@pytest.fixture(scope="session")
def rootfs() -> Path:
    """packaging/dev/rootfs/appliance.list as a tree (built by `make rootfs` or here)."""
    return build_rootfs("appliance")


def build_deb(out: Path, revision: int = 1) -> Path:
    """packaging/deb/build.sh into `out`; `revision` makes a newer build of the same code."""
    result = subprocess.run(
        ["bash", str(REPO / "packaging" / "deb" / "build.sh"), str(out)],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "NVR_DEB_REVISION": str(revision)},
    )
    assert result.returncode == 0, f"make deb failed:\n{result.stdout}\n{result.stderr}"
    return Path(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="session")
def deb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_deb(tmp_path_factory.mktemp("deb"))


@pytest.fixture(scope="session")
def mediamtx() -> Path:
    """The mediamtx binary `make mediamtx` built; the guest runs it as /usr/local/bin/mediamtx."""
    return Path(require_tool("mediamtx"))
