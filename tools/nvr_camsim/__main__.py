"""`python -m nvr.camsim ...` works like `nvrctl camsim ...` (for development)."""

from __future__ import annotations

import argparse
import logging
import sys

from nvr.camsim import cli


def main(argv: list[str] | None = None) -> int:
    """Parse `camsim` options and run them, as nvrctl would."""
    parser = argparse.ArgumentParser(prog="python -m nvr.camsim")
    subparsers = parser.add_subparsers(dest="command", required=True)
    cli.add_parser(subparsers)
    args = parser.parse_args(["camsim", *(sys.argv[1:] if argv is None else argv)])
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    return cli.run(args)


if __name__ == "__main__":
    sys.exit(main())
