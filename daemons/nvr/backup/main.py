"""Entry point of the nvr-backup unit."""

from __future__ import annotations

import sys

from nvr.backup.daemon import BackupDaemon
from nvr.core.service import run_daemon


def main() -> int:
    """Run nvr-backup until SIGTERM."""
    return run_daemon(BackupDaemon)


if __name__ == "__main__":
    sys.exit(main())
