"""Entry point of nvr-hddmon."""

from __future__ import annotations

import sys

from nvr.core.service import run_daemon
from nvr.hddmon.daemon import HddmonDaemon


def main() -> int:
    """Run the daemon until SIGTERM; returns the exit code."""
    return run_daemon(HddmonDaemon)


if __name__ == "__main__":
    sys.exit(main())
