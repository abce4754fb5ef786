"""Entry point of the nvr-report unit."""

from __future__ import annotations

import sys

from nvr.core.service import run_daemon
from nvr.report.daemon import ReportDaemon


def main() -> int:
    """Run nvr-report until SIGTERM."""
    return run_daemon(ReportDaemon)


if __name__ == "__main__":
    sys.exit(main())
