"""One HTTP request to a destination and what its answer means for the queue."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import requests

from nvr.core.redact import Secret, redact_text
from nvr.core.signing import HEADER_SIGNATURE, HEADER_TIMESTAMP, report_signature
from nvr.uplink.constants import MAX_RETRY_AFTER_SECONDS
from nvr.uplink.delivery.pending import OutboxRow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Request:
    """One HTTP call; when it succeeds (or is refused for good) `rows` are done."""

    method: str
    url: str
    body: bytes
    headers: dict[str, str]
    rows: tuple[OutboxRow, ...] = ()


class Verdict(StrEnum):
    """What the answer means for the rows of the request."""

    DELIVERED = "delivered"
    RETRY = "retry"  # timeout, connection error, 5xx, 408, 401/403: the same request later
    THROTTLED = "throttled"  # 429: wait Retry-After, no circuit failure
    REFUSED = "refused"  # other 4xx (not 401/403): dead letter, the queue goes on


@dataclass(frozen=True)
class Outcome:
    """The verdict, a one-line reason, and the wait a 429 asked for."""

    verdict: Verdict
    detail: str
    status: int | None = None
    retry_after: float | None = None


@dataclass(frozen=True)
class TlsSettings:
    """Certificate verification for one destination."""

    verify: bool = True
    ca_file: Path | None = None

    @property
    def requests_verify(self) -> bool | str:
        """The `verify` argument of requests."""
        if not self.verify:
            return False
        return str(self.ca_file) if self.ca_file else True


@dataclass
class Transport:
    """Sends requests for one destination over a reused session (injected in tests)."""

    timeout: float
    tls: TlsSettings
    session: requests.Session = field(default_factory=requests.Session)

    def send(self, request: Request) -> Outcome:
        """POST/PUT and classify the answer; never raises for network trouble."""
        try:
            response = self.session.request(
                request.method,
                request.url,
                data=request.body,
                headers=request.headers,
                timeout=self.timeout,
                verify=self.tls.requests_verify,
            )
        except requests.exceptions.SSLError as err:
            return Outcome(Verdict.RETRY, tls_problem(err, self.tls))
        except requests.exceptions.Timeout:
            return Outcome(Verdict.RETRY, f"no answer within {self.timeout:g}s")
        except requests.exceptions.RequestException as err:
            return Outcome(Verdict.RETRY, f"cannot connect: {_root_cause(err)}")
        return classify(response)


def classify(response: requests.Response) -> Outcome:
    """Map an HTTP status to what the queue does next."""
    status = response.status_code
    reason = f"HTTP {status} {response.reason or ''}".strip()
    if 200 <= status < 300:
        return Outcome(Verdict.DELIVERED, reason, status)
    if status == 429:
        wait = retry_after_seconds(response.headers.get("Retry-After"))
        return Outcome(Verdict.THROTTLED, reason, status, wait)
    if status == 408 or status >= 500:
        return Outcome(Verdict.RETRY, reason, status)
    if status in (401, 403):
        # Our credentials, our clock or our registration at the receiver is wrong: every
        # report would be refused alike, and none of them is at fault. Keep them queued
        # (the backlog alarm calls a technician) instead of dead-lettering the whole outbox.
        hint = "check the secret/token, the box's clock and the site's registration"
        return Outcome(Verdict.RETRY, f"{reason} ({hint})", status)
    text = redact_text(response.text[:200].replace("\n", " "))
    return Outcome(Verdict.REFUSED, f"{reason}: {text}" if text else reason, status)


def retry_after_seconds(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date), capped."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = (when - datetime.now(UTC)).total_seconds()
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_SECONDS)


def tls_problem(err: Exception, tls: TlsSettings) -> str:
    """One clear line for a TLS failure, with what to do about it."""
    text = str(err)
    if "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text:
        hint = (
            f"the CA in ca_file {tls.ca_file} did not sign it"
            if tls.ca_file
            else "set ca_file to the private CA that signed it"
        )
        return f"TLS certificate verification failed ({_verify_reason(text)}): {hint}"
    return f"TLS error: {_root_cause(err)}"


def _verify_reason(text: str) -> str:
    marker = "certificate verify failed:"
    if marker in text:
        return text.split(marker, 1)[1].split(")")[0].strip()
    return "untrusted certificate"


def _root_cause(err: BaseException) -> str:
    """The innermost cause, one line, without the URL's query (never a secret there)."""
    while err.__cause__ is not None or err.__context__ is not None:
        nxt = err.__cause__ or err.__context__
        assert nxt is not None
        err = nxt
    return redact_text(str(err).splitlines()[0] if str(err) else type(err).__name__)


def signed_headers(secret: Secret | None, timestamp: str, body: bytes) -> dict[str, Any]:
    """The signature headers, or none when the destination has no secret."""
    if secret is None:
        return {}
    return {
        HEADER_TIMESTAMP: timestamp,
        HEADER_SIGNATURE: report_signature(secret, timestamp, body),
    }
