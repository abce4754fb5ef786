"""nvrctl entry point: one subcommand module per area, errors as one line and exit 1."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from nvr import __version__
from nvr.cli import (
    camera_cmd,
    config_cmd,
    identity_cmd,
    mediamtx_cmd,
    outbox_cmd,
    play_cmd,
    protect_cmd,
    recordings_cmd,
    report_cmd,
    secret_cmd,
    state_cmd,
    status_cmd,
    streams_cmd,
    support_cmd,
    tls_cmd,
    validate_cmd,
)
from nvr.core.errors import NvrError
from nvr.core.logsetup import configure_logging
from nvr.core.redact import redact_text

COMMANDS = (
    status_cmd,
    config_cmd,
    camera_cmd,
    recordings_cmd,
    identity_cmd,
    protect_cmd,
    validate_cmd,
    streams_cmd,
    mediamtx_cmd,
    play_cmd,
    report_cmd,
    outbox_cmd,
    secret_cmd,
    state_cmd,
    support_cmd,
    tls_cmd,
)


def build_parser() -> argparse.ArgumentParser:
    """The full nvrctl command line."""
    parser = argparse.ArgumentParser(prog="nvrctl", description="NVR appliance control tool")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--log-level", default="WARNING", help="log level for stderr")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run nvrctl; returns the exit code (0 ok, 1 error, 2 usage, 130 interrupted)."""
    args = build_parser().parse_args(argv)
    configure_logging(args.log_level.upper())
    try:
        return int(args.func(args))
    except NvrError as err:
        print(f"nvrctl: error: {redact_text(str(err))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return reader_went_away()


# What a shell reports for a command killed by SIGPIPE (128 + 13), as `cat | head` does.
EXIT_BROKEN_PIPE = 141


def reader_went_away() -> int:
    """`nvrctl ... | head`: the reader closed the pipe; stop quietly, no traceback.

    stdout is pointed at /dev/null so the interpreter's final flush of what is still
    buffered does not raise the same error again at exit (Python's documented recipe).
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return EXIT_BROKEN_PIPE


if __name__ == "__main__":
    sys.exit(main())
