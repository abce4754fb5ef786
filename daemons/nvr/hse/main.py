"""Entry point of nvr-hse."""

from __future__ import annotations

import sys

from nvr.core.service import run_daemon
from nvr.hse.daemon import HseDaemon


def main() -> int:
    """Run the daemon until SIGTERM; returns the exit code."""
    return run_daemon(HseDaemon)


if __name__ == "__main__":
    sys.exit(main())
