"""HMAC-SHA256 signatures with the site secret: reports to head office, commands from it.

One implementation for both ends, so the box (nvr-uplink), the reference receiver
(nvr-headoffice) and the command check can never disagree on a byte. The header names are
documented for receivers in docs/design/outbox.md; the command format in
docs/design/commands.md.
"""

from __future__ import annotations

import hashlib
import hmac

from nvr.core.redact import Secret

HEADER_TIMESTAMP = "X-NVR-Timestamp"
HEADER_SIGNATURE = "X-NVR-Signature"
HEADER_SITE = "X-NVR-Site"
HEADER_IDEMPOTENCY = "Idempotency-Key"
SIGNATURE_PREFIX = "sha256="
# A receiver refuses report signatures older or newer than this (replay protection).
REPLAY_WINDOW_SECONDS = 300


def hmac_signature(secret: Secret, message: bytes) -> str:
    """`sha256=<hex>`: HMAC-SHA256 of `message` with the secret."""
    mac = hmac.new(secret.reveal().encode(), message, hashlib.sha256)
    return SIGNATURE_PREFIX + mac.hexdigest()


def report_signature(secret: Secret, timestamp: str, body: bytes) -> str:
    """A report request's signature: over `timestamp + "." + body`."""
    return hmac_signature(secret, timestamp.encode() + b"." + body)


def signatures_match(given: str, expected: str) -> bool:
    """Constant-time comparison (a plain == leaks how many leading characters matched)."""
    # A header may hold anything: undecodable characters simply do not match.
    return hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode())
