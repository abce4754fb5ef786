"""The primary address of the box: the one its default route leaves from.

Used for `livestream.public_host` when it is not set (viewers on the LAN need an address
they can reach, not 127.0.0.1) and for the self-signed certificate's names.
"""

from __future__ import annotations

import socket

# TEST-NET-1 (RFC 5737): never routed on the Internet. Connecting a UDP socket sends no
# packet; the kernel only picks the source address its routing table would use.
_PROBE_V4 = ("192.0.2.1", 9)


def primary_address() -> str | None:
    """The IPv4 address of the default route, or None when the box has no such route."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(_PROBE_V4)
        except OSError:
            return None
        address = str(probe.getsockname()[0])
    return None if address.startswith(("0.", "127.")) else address
