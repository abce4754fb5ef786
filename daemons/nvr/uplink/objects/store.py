"""MinIO through the `minio` SDK: buckets, the idempotency check, uploads; errors in one line.

Every failure comes out as ObjectStoreError (retry later: MinIO down, refused credentials,
a missing bucket) or its leaf ObjectRefused (this object will never be accepted). The
messages name the endpoint, bucket and key, never the secret key. The SDK's own retries
are off: the upload service backs off with jitter instead (docs/design/objects.md).
"""

from __future__ import annotations

import contextlib
import mimetypes
import re
from collections.abc import Iterator
from typing import BinaryIO, cast

import urllib3
from minio import Minio
from minio.error import MinioException, S3Error

from nvr.core.config.uplink import MinioConfig
from nvr.core.tables.uploads import ObjectRef
from nvr.uplink.constants import (
    MINIO_CONNECT_TIMEOUT_SECONDS,
    MINIO_PERMANENT_CODES,
    MINIO_READ_TIMEOUT_SECONDS,
    SHA256_METADATA,
)
from nvr.uplink.errors import UplinkError
from nvr.uplink.objects.throttle import MeteredReader

MAX_REASON_CHARS = 200
ACCESS_DENIED = "AccessDenied"
_ERRNO_TEXT = re.compile(r"\[Errno -?\d+\] ([^'\"()]+)")


class ObjectStoreError(UplinkError):
    """MinIO cannot be used right now; the same upload may work later."""


class ObjectRefused(ObjectStoreError):
    """MinIO refused this object for a reason no retry changes (too large, bad name)."""


def _http_client() -> urllib3.PoolManager:
    """The SDK's pool, with our timeouts and without its retries (we back off ourselves).

    TLS is verified against the system's CAs, where a private CA of head office belongs.
    """
    return urllib3.PoolManager(
        timeout=urllib3.Timeout(
            connect=MINIO_CONNECT_TIMEOUT_SECONDS, read=MINIO_READ_TIMEOUT_SECONDS
        ),
        retries=False,
        cert_reqs="CERT_REQUIRED",
    )


def _one_line(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= MAX_REASON_CHARS else line[: MAX_REASON_CHARS - 3] + "..."


def _network_reason(err: urllib3.exceptions.HTTPError) -> str:
    """`connection refused` rather than urllib3's object reprs."""
    cause = getattr(err, "reason", None) or err
    match = _ERRNO_TEXT.search(str(cause))
    if match:
        return match.group(1).strip().lower()
    return type(cause).__name__


class ObjectStore:
    """One MinIO endpoint with this site's credentials."""

    def __init__(self, config: MinioConfig) -> None:
        self.endpoint = config.endpoint
        self._part_size = config.part_size_mb << 20
        self._client = Minio(
            config.endpoint,
            access_key=config.access_key,
            secret_key=config.secret_key.reveal(),
            secure=config.secure,
            http_client=_http_client(),
        )

    @contextlib.contextmanager
    def _calling(self, what: str) -> Iterator[None]:
        """Turn SDK and network errors into one line naming `what`."""
        try:
            yield
        except S3Error as err:
            reason = f"{what}: {err.code} ({_one_line(err.message or '')})"
            if err.code in MINIO_PERMANENT_CODES:
                raise ObjectRefused(reason) from err
            raise ObjectStoreError(reason) from err
        except MinioException as err:
            raise ObjectStoreError(f"{what}: {_one_line(str(err))}") from err
        except urllib3.exceptions.HTTPError as err:
            raise ObjectStoreError(
                f"{what}: cannot reach {self.endpoint}: {_network_reason(err)}"
            ) from err

    def ensure_bucket(self, bucket: str) -> bool:
        """Create `bucket` when it is missing; True when it was created.

        A site's account on a cluster shared by many sites may not look at whole buckets
        (its policy names only its own keys, docs/design/objects.md, invariant 7): that
        answer is taken as "exists", and an upload into a missing bucket says NoSuchBucket.
        """
        with self._calling(f"bucket {bucket}"):
            try:
                if self._client.bucket_exists(bucket):
                    return False
            except S3Error as err:
                if err.code == ACCESS_DENIED:
                    return False
                raise
        with self._calling(f"bucket {bucket} is missing and could not be created"):
            self._client.make_bucket(bucket)
        return True

    def stored_sha256(self, ref: ObjectRef) -> str | None:
        """The SHA-256 the object was stored with; None when there is no such object."""
        with self._calling(f"stat {ref.path}"):
            try:
                stat = self._client.stat_object(ref.bucket, ref.key)
            except S3Error as err:
                if err.code in ("NoSuchKey", "NoSuchObject", "ResourceNotFound"):
                    return None
                raise
        metadata = stat.metadata or {}
        value = metadata.get(f"x-amz-meta-{SHA256_METADATA}")
        return str(value) if value else None

    def put(self, ref: ObjectRef, reader: MeteredReader, length: int, sha256: str) -> None:
        """Upload `length` bytes from `reader` with the SHA-256 as user metadata."""
        content_type = mimetypes.guess_type(ref.key)[0] or "application/octet-stream"
        with self._calling(f"upload {ref.path}"):
            self._client.put_object(
                ref.bucket,
                ref.key,
                cast(BinaryIO, reader),  # the SDK only calls read()
                length,
                content_type=content_type,
                metadata={SHA256_METADATA: sha256},
                part_size=self._part_size,
                # One part at a time: the bandwidth cap and memory stay predictable.
                num_parallel_uploads=1,
            )

    def remove(self, ref: ObjectRef) -> None:
        """Delete an object (one whose content did not match its queued hash)."""
        with self._calling(f"remove {ref.path}"):
            self._client.remove_object(ref.bucket, ref.key)
