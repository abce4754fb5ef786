"""Fixtures of the appliance tests: the cached Debian 12 tree and the .deb of `make deb`."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.box import build_deb
from appliance.nspawn import build_rootfs
from nvr.core.tools import require_tool


@pytest.fixture(scope="session")
def rootfs() -> Path:
    """packaging/dev/rootfs/appliance.list as a tree (built by `make rootfs` or here)."""
    return build_rootfs("appliance")


@pytest.fixture(scope="session")
def deb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_deb(tmp_path_factory.mktemp("deb"))


@pytest.fixture(scope="session")
def mediamtx() -> Path:
    """The mediamtx binary `make mediamtx` built; the guest runs it as /usr/local/bin/mediamtx."""
    return Path(require_tool("mediamtx"))
