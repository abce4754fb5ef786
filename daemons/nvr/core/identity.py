"""The box's own Ed25519 key: it signs clip manifests; head office learns the public half.

The private key lives beside the state file (`<state dir>/box-ed25519.key`, mode 0600,
PKCS#8 PEM). `nvrctl identity init` creates it at install (the .deb's postinst); any
signer creates it on first use when it is absent. Status reports carry the public key,
so head office registers it over the HMAC-authenticated report channel
(docs/design/evidence.md, invariant 4).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import logging
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from nvr.core.durable import fsync_directory
from nvr.core.errors import NvrError

log = logging.getLogger(__name__)

KEY_FILE_NAME = "box-ed25519.key"
KEY_MODE = 0o600
ALGORITHM = "ed25519"
# The key id is a short digest of the public key: it names the key in a manifest.
KEY_ID_HEX_CHARS = 16


class IdentityError(NvrError):
    """The box key cannot be read or created."""


def key_path(state_file: Path) -> Path:
    """Where the box key of the state file `state_file` lives."""
    return state_file.parent / KEY_FILE_NAME


def key_id(public_raw: bytes) -> str:
    """`sha256(public key)[:16]`, hex."""
    return hashlib.sha256(public_raw).hexdigest()[:KEY_ID_HEX_CHARS]


@dataclass(frozen=True)
class BoxIdentity:
    """The loaded key pair."""

    path: Path
    private: Ed25519PrivateKey

    @property
    def public_raw(self) -> bytes:
        """The 32-byte public key."""
        return self.private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )

    @property
    def key_id(self) -> str:
        """The short name of the public key."""
        return key_id(self.public_raw)

    def public_json(self) -> dict[str, Any]:
        """`{algorithm, key_id, public_key}` (base64), for status reports and manifests."""
        return {
            "algorithm": ALGORITHM,
            "key_id": self.key_id,
            "public_key": base64.b64encode(self.public_raw).decode(),
        }

    def sign(self, data: bytes) -> str:
        """The Ed25519 signature of `data`, base64."""
        return base64.b64encode(self.private.sign(data)).decode()


def _create(path: Path) -> None:
    """Write a new key with mode 0600 from the first byte (O_EXCL: never replace a key)."""
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, KEY_MODE)
    try:
        if os.geteuid() == 0:
            # `sudo nvrctl export` on a box without a key: the daemons (user nvr, the owner
            # of the state directory) must still be able to read it.
            owner = path.parent.stat()
            os.fchown(fd, owner.st_uid, owner.st_gid)
        os.write(fd, pem)
        os.fsync(fd)
    finally:
        os.close(fd)
    fsync_directory(path.parent)
    log.info("created the box signing key %s", path)


def load_identity(state_file: Path, create: bool = True) -> BoxIdentity:
    """The box key; created when absent and `create` (IdentityError when it cannot be)."""
    path = key_path(state_file)
    try:
        if create and not path.exists():
            # FileExistsError: another daemon created it meanwhile.
            with contextlib.suppress(FileExistsError):
                _create(path)
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            # A key others can read signs nothing we can stand behind; tighten it.
            log.warning("box key %s had mode %o; set to 0600", path, mode)
            path.chmod(KEY_MODE)
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except FileNotFoundError as err:
        raise IdentityError(f"box key {path} does not exist (run `nvrctl identity init`)") from err
    except (OSError, ValueError) as err:
        raise IdentityError(f"box key {path}: cannot read it: {err}") from err
    if not isinstance(key, Ed25519PrivateKey):
        raise IdentityError(f"box key {path} is not an Ed25519 key")
    return BoxIdentity(path, key)


def signature_valid(public_key_b64: str, signature_b64: str, data: bytes) -> bool:
    """True when `signature_b64` is the Ed25519 signature of `data` by `public_key_b64`."""
    try:
        public = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key_b64))
        public.verify(base64.b64decode(signature_b64), data)
    except (InvalidSignature, ValueError):
        return False
    return True
