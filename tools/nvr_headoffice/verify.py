"""What a POST must prove before anything is stored: who sent it, when, and what it holds.

Order matters: the site and its signature are checked before the body is parsed, so an
unauthenticated client learns nothing about the envelope rules and cannot make the
receiver parse large bodies of its choosing. See docs/design/headoffice.md, invariant 1.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Request

from nvr.core.redact import Secret
from nvr.core.signing import (
    HEADER_SIGNATURE,
    HEADER_SITE,
    HEADER_TIMESTAMP,
    report_signature,
    signatures_match,
)
from nvr_headoffice.constants import (
    ENVELOPE_KEYS,
    MAX_ID_LENGTH,
    MAX_KIND_LENGTH,
    MAX_SEQ,
    MAX_TIMESTAMP_DIGITS,
    SUPPORTED_SCHEMAS,
)
from nvr_headoffice.errors import Refused
from nvr_headoffice.sites import SitesFile

log = logging.getLogger(__name__)

# Values from the request are echoed in errors and logs; repr() escapes control
# characters, and this cap keeps a hostile value from flooding the log.
SHOWN_CHARS = 64
# Signs for unknown sites, so they cost the same HMAC as known ones; nothing matches it.
_DECOY_SECRET = Secret(secrets.token_hex(32))
# A site signs with one secret, or two while a rotation is in progress.
MAX_SECRETS = 2


@dataclass(frozen=True)
class Envelope:
    """One report as a site sent it (docs/design/outbox.md, "The envelope")."""

    id: str
    site_id: str
    seq: int
    kind: str
    created_at: str
    body: dict[str, Any]


def shown(value: object) -> str:
    """A request value, safe to put in one log line or error."""
    text = repr(value)
    return text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 3] + "..."


@dataclass(frozen=True)
class Credentials:
    """The signature headers of a request, "" where absent."""

    site_id: str
    timestamp: str
    signature: str


def authenticate(
    creds: Credentials, read_body: Callable[[], bytes], sites: SitesFile, now: float
) -> tuple[str, bytes]:
    """The site that signed this request and its body; raises Refused (401) otherwise.

    The headers are checked before the body is read (invariant 1), and an unknown site is
    answered exactly like a bad signature, after the same HMAC over the body with a decoy
    key, so neither the answer nor its timing tells whether a site id exists (invariant 7).
    """
    site_id, stamp = creds.site_id, creds.timestamp
    if not site_id:
        raise Refused(401, f"missing {HEADER_SITE} header")
    # Bounded before int(): Python refuses to convert more than 4,300 digits (a 500).
    if not (stamp.isascii() and stamp.isdigit() and len(stamp) <= MAX_TIMESTAMP_DIGITS):
        raise Refused(401, f"missing or malformed {HEADER_TIMESTAMP} header")
    skew = int(stamp) - now
    if abs(skew) > sites.replay_window_seconds:
        raise Refused(
            401,
            f"{HEADER_TIMESTAMP} is {skew:+.0f}s from the receiver's clock (allowed"
            f" ±{sites.replay_window_seconds}s): a replay, or the site's clock is wrong",
        )
    body = read_body()
    known = sites.secrets(site_id, now)
    # Always MAX_SECRETS HMACs (decoys fill in): the time taken says neither whether the
    # site exists nor whether it is rotating.
    keys = (*known, *(_DECOY_SECRET,) * (MAX_SECRETS - len(known)))
    matches = [signatures_match(creds.signature, report_signature(k, stamp, body)) for k in keys]
    if not any(matches[: len(known)]):
        raise Refused(
            401,
            f"bad {HEADER_SIGNATURE} for site {shown(site_id)} (wrong secret, or a site"
            " this receiver does not know)",
            detail="wrong secret" if known else "site not in the sites file",
        )
    if matches[0] is False:
        log.info("site=%s signed with its previous secret (rotation in progress)", site_id)
    return site_id, body


def authenticate_request(req: Request, sites: SitesFile, now: float) -> tuple[str, bytes]:
    """`authenticate` on a Flask request: its signature headers, then its body (not cached)."""
    creds = Credentials(
        req.headers.get(HEADER_SITE, ""),
        req.headers.get(HEADER_TIMESTAMP, ""),
        req.headers.get(HEADER_SIGNATURE, ""),
    )
    return authenticate(creds, lambda: req.get_data(cache=False), sites, now)


def read_json(body: bytes) -> Any:
    """An authenticated body as JSON; Refused(400) in one line when it is not.

    Nesting deeper than Python's recursion limit makes json.loads raise RecursionError,
    not ValueError: refused alike (it was a 500 with a traceback, found by fuzzing).
    """
    try:
        return json.loads(body)
    except ValueError as err:
        raise Refused(400, f"body is not JSON: {err}") from None
    except RecursionError:
        raise Refused(400, "body is not JSON: nested too deeply") from None


def parse_envelopes(body: bytes, site_id: str) -> list[Envelope]:
    """The envelopes of an authenticated body; raises Refused(400) naming the first problem.

    The whole request is refused for one bad element: the uplink then sends the reports
    one by one and dead-letters only the bad one (docs/design/outbox.md, procedures).
    """
    data = read_json(body)
    if isinstance(data, dict):
        return [_envelope(data, "report", site_id)]
    if not isinstance(data, list):
        raise Refused(400, "body must be one envelope or a JSON array of envelopes")
    if not data:
        raise Refused(400, "empty array: no report to store")
    return [_envelope(raw, f"reports[{i}]", site_id) for i, raw in enumerate(data)]


def _envelope(raw: Any, where: str, site_id: str) -> Envelope:
    if not isinstance(raw, dict):
        raise Refused(400, f"{where}: not a JSON object")
    missing = ENVELOPE_KEYS - raw.keys()
    if missing:
        raise Refused(400, f"{where}: missing {', '.join(sorted(missing))}")
    problem = _field_problem(raw, site_id)
    if problem is not None:
        raise Refused(400, f"{where}: {problem}")
    return Envelope(
        id=raw["id"],
        site_id=raw["site_id"],
        seq=raw["seq"],
        kind=raw["kind"],
        created_at=raw["created_at"],
        body=raw["body"],
    )


def _is_text(value: Any, max_length: int) -> bool:
    return isinstance(value, str) and 0 < len(value) <= max_length


def _field_problem(raw: dict[str, Any], site_id: str) -> str | None:
    """The first field that is wrong, in words; None when the envelope is sound."""
    # type() is int, not isinstance: JSON `true` would pass as 1.
    schema, seq = raw["schema"], raw["seq"]
    checks = (
        (
            type(schema) is int and schema in SUPPORTED_SCHEMAS,
            f"schema {shown(schema)} is not one this receiver reads ({sorted(SUPPORTED_SCHEMAS)})",
        ),
        (
            raw["site_id"] == site_id,
            f"site_id {shown(raw['site_id'])} does not match {HEADER_SITE} {shown(site_id)}",
        ),
        (_is_text(raw["id"], MAX_ID_LENGTH), f"id {shown(raw['id'])} is not a report id"),
        (type(seq) is int and 1 <= seq <= MAX_SEQ, f"seq {shown(seq)} is not a positive integer"),
        (_is_text(raw["kind"], MAX_KIND_LENGTH), f"kind {shown(raw['kind'])} is not a kind"),
        (isinstance(raw["created_at"], str), "created_at is not a string"),
        (isinstance(raw["body"], dict), "body is not a JSON object"),
    )
    return next((message for ok, message in checks if not ok), None)
