"""Entry point of the nvr-validator unit."""

from __future__ import annotations

import sys

from nvr.core.service import run_daemon
from nvr.validator.daemon import ValidatorDaemon


def main() -> int:
    """Run nvr-validator until SIGTERM."""
    return run_daemon(ValidatorDaemon)


if __name__ == "__main__":
    sys.exit(main())
