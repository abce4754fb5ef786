"""Entry point of the nvr-uplink unit."""

from __future__ import annotations

import sys

from nvr.core.service import run_daemon
from nvr.uplink.daemon import UplinkDaemon


def main() -> int:
    """Run nvr-uplink until SIGTERM."""
    return run_daemon(UplinkDaemon)


if __name__ == "__main__":
    sys.exit(main())
