"""Hashing and checking viewer passwords (stdlib scrypt, constant-time comparison).

In nvr.core because two daemons check them: nvr-livestream (the viewer API and mediamtx's
callback) and nvr-health (the status page and snapshots).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import secrets

# scrypt parameters for new hashes (n = 2**14, r = 8, p = 1: ~16 MiB, ~50 ms per check).
SCRYPT_LOG2_N = 14
SCRYPT_R = 8
SCRYPT_P = 1
SCRYPT_SALT_BYTES = 16
SCRYPT_KEY_BYTES = 32

SCHEME = "scrypt"
# scrypt needs 128 * r * n bytes; leave headroom over the default 32 MiB cap.
_MAXMEM = 256 * 1024 * 1024


def _scrypt(password: str, salt: bytes, log2_n: int, r: int, p: int, size: int) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=2**log2_n, r=r, p=p, maxmem=_MAXMEM, dklen=size
    )


def hash_password(password: str) -> str:
    """`scrypt$14$8$1$<salt>$<hash>` for `password`, with a fresh random salt."""
    salt = secrets.token_bytes(SCRYPT_SALT_BYTES)
    key = _scrypt(password, salt, SCRYPT_LOG2_N, SCRYPT_R, SCRYPT_P, SCRYPT_KEY_BYTES)
    b64 = base64.b64encode
    return (
        f"{SCHEME}${SCRYPT_LOG2_N}${SCRYPT_R}${SCRYPT_P}${b64(salt).decode()}${b64(key).decode()}"
    )


def verify_password(password: str, encoded: str) -> bool:
    """True when `password` matches `encoded`; a malformed hash never matches."""
    try:
        scheme, log2_n, r, p, salt, key = encoded.split("$")
        expected = base64.b64decode(key, validate=True)
        actual = _scrypt(
            password,
            base64.b64decode(salt, validate=True),
            int(log2_n),
            int(r),
            int(p),
            len(expected),
        )
    except (ValueError, MemoryError):
        return False
    return scheme == SCHEME and hmac.compare_digest(actual, expected)


@functools.cache
def decoy_hash() -> str:
    """A hash of a random password, checked for unknown users so they cost a known one's time."""
    return hash_password(secrets.token_urlsafe(16))
