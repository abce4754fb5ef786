"""Entry point of the nvr-livestream unit."""

from __future__ import annotations

import sys

from nvr.core.service import run_daemon
from nvr.livestream.daemon import LivestreamDaemon


def main() -> int:
    """Run nvr-livestream until SIGTERM."""
    return run_daemon(LivestreamDaemon)


if __name__ == "__main__":
    sys.exit(main())
