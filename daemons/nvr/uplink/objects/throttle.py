"""The bandwidth cap of uploads: a token bucket, and a file reader that pays it and hashes.

The MinIO SDK reads a whole part from the reader before sending it, so the cap holds for
the average rate; the link sees bursts of one part (docs/design/objects.md, "Bandwidth").
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from typing import BinaryIO

from nvr.uplink.constants import BANDWIDTH_BURST_SECONDS, UPLOAD_CHUNK_BYTES
from nvr.uplink.errors import UplinkError


class UploadInterrupted(UplinkError):
    """The service is stopping; the upload in progress is abandoned (the row stays pending)."""


class TokenBucket:
    """`rate` bytes per second on average, at most `BANDWIDTH_BURST_SECONDS` of it at once.

    Shared by every upload of the service, so back-to-back small files cannot each start
    with a full bucket. Taking more than is there runs into debt, paid by waiting.
    """

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.capacity = max(rate * BANDWIDTH_BURST_SECONDS, float(UPLOAD_CHUNK_BYTES))
        self._clock = clock
        self._tokens = self.capacity
        self._stamp = clock()
        self._lock = threading.Lock()

    @classmethod
    def from_kbps(cls, kbps: int | None) -> TokenBucket | None:
        """The bucket of `uplink.minio.bandwidth_limit_kbps` (kilobits/s), None for no cap."""
        return None if kbps is None else cls(kbps * 1000 / 8)

    def take(self, amount: int, stop: threading.Event) -> bool:
        """Spend `amount` bytes, waiting as long as the rate asks; False when stopped."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            self._tokens -= amount
            debt = -self._tokens
        return debt <= 0 or not stop.wait(debt / self.rate)


class MeteredReader:
    """A file reader for the SDK: small chunks, each paid to the bucket and hashed.

    The running SHA-256 lets the service check that what it sent is what was queued.
    """

    def __init__(self, source: BinaryIO, bucket: TokenBucket | None, stop: threading.Event) -> None:
        self._source = source
        self._bucket = bucket
        self._stop = stop
        self._digest = hashlib.sha256()
        self.sent = 0

    def read(self, size: int = -1) -> bytes:
        """Up to one chunk; raises UploadInterrupted when the service stops meanwhile."""
        want = UPLOAD_CHUNK_BYTES if size < 0 else min(size, UPLOAD_CHUNK_BYTES)
        data = self._source.read(want)
        if self._stop.is_set() or (
            data and self._bucket is not None and not self._bucket.take(len(data), self._stop)
        ):
            raise UploadInterrupted("stopping")
        self._digest.update(data)
        self.sent += len(data)
        return data

    def hexdigest(self) -> str:
        """SHA-256 of what was read so far."""
        return self._digest.hexdigest()
