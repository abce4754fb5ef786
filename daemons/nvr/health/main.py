"""Entry point of nvr-health."""

from __future__ import annotations

import sys

from nvr.core.service import run_daemon
from nvr.health.daemon import HealthDaemon


def main() -> int:
    """Run the daemon until SIGTERM; returns the exit code."""
    return run_daemon(HealthDaemon)


if __name__ == "__main__":
    sys.exit(main())
