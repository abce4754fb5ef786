"""`python -m nvr.livestream.hashpw`: print the hash to put in `livestream.viewers`.

Reads the password from the terminal (not echoed) or, when stdin is not a terminal, from
the first line of stdin, so it never appears in the shell history or `ps`.
"""

from __future__ import annotations

import getpass
import sys

from nvr.core.passwords import hash_password


def main() -> int:
    """Read one password and print its scrypt hash."""
    if sys.stdin.isatty():
        password = getpass.getpass("viewer password: ")
        if getpass.getpass("again: ") != password:
            print("hashpw: the passwords differ", file=sys.stderr)
            return 1
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        print("hashpw: empty password", file=sys.stderr)
        return 1
    print(hash_password(password))
    return 0


if __name__ == "__main__":
    sys.exit(main())
