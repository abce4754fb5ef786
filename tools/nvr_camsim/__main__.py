"""nvr-camsim (or `python -m nvr_camsim`): the simulator's own entry point, outside nvrctl."""

from __future__ import annotations

import argparse
import logging
import sys

from nvr_camsim import cli


def main(argv: list[str] | None = None) -> int:
    """Parse the camsim options and run them."""
    parser = argparse.ArgumentParser(prog="nvr-camsim")
    subparsers = parser.add_subparsers(dest="command", required=True)
    cli.add_parser(subparsers)
    args = parser.parse_args(["camsim", *(sys.argv[1:] if argv is None else argv)])
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    return cli.run(args)


if __name__ == "__main__":
    sys.exit(main())
