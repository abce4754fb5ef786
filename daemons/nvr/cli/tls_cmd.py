"""`nvrctl tls self-signed`: make the certificate nvr-health and the viewer API serve HTTPS with.

Run by the package's postinst, so a box has a certificate from its first boot; an existing
pair is kept (an operator's own certificate is never replaced) unless `--force`. The
certificate names the host name, `localhost`, 127.0.0.1 and the primary address; viewers and
the NOC see a warning until they pin it or the operator installs one from their own CA
(docs/design/security.md, invariant 3).
"""

from __future__ import annotations

import argparse
import grp
import os
import socket
from pathlib import Path
from typing import Any

from nvr.core.errors import NvrError
from nvr.core.netaddr import primary_address
from nvr.core.process import run_child
from nvr.core.tools import require_tool

DEFAULT_DIR = Path("/etc/nvr/tls")
CERT_NAME = "nvr.crt"
KEY_NAME = "nvr.key"
DEFAULT_DAYS = 3650
OPENSSL_TIMEOUT_SECONDS = 60


def add_parser(subparsers: Any) -> None:
    """Register `tls self-signed`."""
    tls = subparsers.add_parser("tls", help="TLS certificates of the box's HTTPS endpoints")
    actions = tls.add_subparsers(dest="tls_command", required=True)
    make = actions.add_parser("self-signed", help="make a self-signed certificate and key")
    make.add_argument("--dir", type=Path, default=DEFAULT_DIR, help=f"default {DEFAULT_DIR}")
    make.add_argument("--days", type=int, default=DEFAULT_DAYS, help="validity in days")
    make.add_argument("--group", help="group that may read the key (the daemons': nvr)")
    make.add_argument("--force", action="store_true", help="replace an existing pair")
    make.set_defaults(func=self_signed)


def subject_names() -> list[str]:
    """SubjectAltName entries: the host name, localhost, loopback and the primary address."""
    names = [f"DNS:{socket.gethostname()}", "DNS:localhost", "IP:127.0.0.1", "IP:::1"]
    address = primary_address()
    if address is not None:
        names.append(f"IP:{address}")
    return list(dict.fromkeys(names))


def self_signed(args: argparse.Namespace) -> int:
    """Write <dir>/nvr.crt (0644) and <dir>/nvr.key (0640, root and --group)."""
    cert, key = args.dir / CERT_NAME, args.dir / KEY_NAME
    if (cert.exists() or key.exists()) and not args.force:
        print(f"nvrctl tls: {cert} or {key} exists: kept (--force replaces them)")
        return 0
    args.dir.mkdir(parents=True, exist_ok=True)
    argv = [
        require_tool("openssl"),
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
        "-nodes", "-days", str(args.days), "-subj", f"/CN={socket.gethostname()}",
        "-addext", "subjectAltName=" + ",".join(subject_names()),
        "-keyout", str(key), "-out", str(cert),
    ]  # fmt: skip
    old_umask = os.umask(0o077)  # the key is never readable by others, not even briefly
    try:
        made = run_child(argv, OPENSSL_TIMEOUT_SECONDS)
    finally:
        os.umask(old_umask)
    if made.returncode != 0:
        last = (made.stderr.strip().splitlines() or ["no message"])[-1]
        raise NvrError(f"openssl could not make the certificate: {last}")
    cert.chmod(0o644)
    key.chmod(0o640)
    if args.group:
        os.chown(key, -1, _gid(args.group))
    print(f"nvrctl tls: wrote {cert} and {key} (self-signed, {args.days} days)")
    return 0


def _gid(group: str) -> int:
    try:
        return grp.getgrnam(group).gr_gid
    except KeyError:
        raise NvrError(f"--group {group}: no such group") from None
