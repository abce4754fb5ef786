"""The command wire format: parsing, the HMAC signature, freshness, result messages.

A command is one JSON object signed with the site secret (docs/design/commands.md,
"Wire format"). Nothing of a command is trusted before its signature is checked; the
id and action of an unsigned one are only echoed when they look like an id and an action.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from nvr.core.redact import Secret
from nvr.core.signing import hmac_signature, signatures_match
from nvr.uplink.commands.constants import ACTIONS, ID_PATTERN, MAX_PAYLOAD_BYTES
from nvr.uplink.commands.edgecloud import action_and_args
from nvr.uplink.errors import UplinkError

_ID = re.compile(ID_PATTERN)
_ACTION = re.compile(r"[a-z_]{1,32}")
# A value echoed from a message is cut to this many characters.
SHOWN_CHARS = 64


class Refusal(UplinkError):
    """A command that is not run, and why (one line, safe to publish and log).

    `authenticated` says the command carried a valid signature: only then is it the
    centre's, and only then may its id take a row in `commands`.
    """

    def __init__(
        self,
        reason: str,
        *,
        command_id: str | None,
        action: str | None,
        authenticated: bool = False,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.command_id = command_id
        self.action = action
        self.authenticated = authenticated


@dataclass(frozen=True)
class Command:
    """A command whose signature checked out."""

    id: str
    action: str
    args: dict[str, Any]
    issued_at: str
    origin: str
    # A defect found while reading it (args not an object): refused by check_envelope,
    # after the id was looked up, so a known id is still answered with its stored result.
    problem: str | None = None

    def refuse(self, reason: str) -> Refusal:
        """A refusal of this command."""
        return Refusal(
            f"{self.action}: {reason}", command_id=self.id, action=self.action, authenticated=True
        )


def canonical(obj: dict[str, Any]) -> bytes:
    """The signed bytes: the object without `signature`, keys sorted, no spaces."""
    unsigned = {key: value for key, value in obj.items() if key != "signature"}
    return json.dumps(unsigned, sort_keys=True, separators=(",", ":")).encode()


def signature(obj: dict[str, Any], key: Secret) -> str:
    """`sha256=<hex>`: HMAC-SHA256 of the canonical JSON with the site secret."""
    return hmac_signature(key, canonical(obj))


def read_object(payload: bytes) -> dict[str, Any]:
    """The message as a JSON object (not trusted yet); raises Refusal."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise Refusal(
            f"command of {len(payload)} bytes is larger than {MAX_PAYLOAD_BYTES}",
            command_id=None,
            action=None,
        )
    try:
        obj = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise Refusal("not a JSON command", command_id=None, action=None) from None
    if not isinstance(obj, dict):
        raise Refusal("not a JSON object", command_id=None, action=None)
    return obj


def unverified_refusal(obj: dict[str, Any], reason: str) -> Refusal:
    """A refusal before the signature is checked (nothing in `obj` is trusted yet).

    The id and action are echoed only when they have the form of an id and an action.
    """
    command_id, action = obj.get("id"), action_and_args(obj)[0]
    return Refusal(
        reason,
        command_id=command_id
        if isinstance(command_id, str) and _ID.fullmatch(command_id)
        else None,
        action=action if isinstance(action, str) and _ACTION.fullmatch(action) else None,
    )


@dataclass(frozen=True)
class Destination:
    """Where a command arrived: this site and the topic (docs/design/commands.md, invariant 9)."""

    site: str
    topic: str


def authenticate(
    obj: dict[str, Any], keys: Sequence[Secret], origin: str, to: Destination
) -> Command:
    """Check the signature and that it was signed for this site and topic; raises Refusal.

    `site` and `topic` are signed like every other key, so a command signed for site A
    (whose secret B may share) is refused on B, and one meant for another topic here too.
    A command for another site is not this site's: it takes no row (like a forged one).
    `keys`: the site secret, and the previous one during a rotation window.
    """
    given = obj.get("signature")
    if not isinstance(given, str) or not given:
        raise unverified_refusal(obj, "unsigned command")
    # Every key is tried (no early exit): the time taken does not say which one matched.
    matches = [signatures_match(given, signature(obj, key)) for key in keys]
    if not any(matches):
        raise unverified_refusal(obj, "bad signature (not signed with this site's secret)")
    for name, mine in (("site", to.site), ("topic", to.topic)):
        theirs = obj.get(name)
        if theirs != mine:
            said = shown(theirs) if name in obj else "none"
            raise unverified_refusal(
                obj, f"signed for {name} {said}, this is {name} {mine!r}: not run here"
            )
    return _shape(obj, origin)


def shown(value: object) -> str:
    """A value from an unverified message, short and on one line, for a refusal."""
    text = repr(value)
    return text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 3] + "..."


def _shape(obj: dict[str, Any], origin: str) -> Command:
    """The signed object as a Command; its id must be usable as a key."""
    command_id = obj.get("id")
    if not isinstance(command_id, str) or not _ID.fullmatch(command_id):
        raise Refusal(
            "id must be 1-64 characters of A-Z a-z 0-9 . _ : -",
            command_id=None,
            action=None,
            authenticated=True,
        )
    action, args = action_and_args(obj)  # ours or the edge/cloud form
    issued_at = obj.get("issued_at")
    return Command(
        id=command_id,
        # Only an action-shaped name is kept as it is: it reaches log lines and answers.
        action=action
        if isinstance(action, str) and _ACTION.fullmatch(action)
        else repr(action)[:32],
        args=args if isinstance(args, dict) else {},
        issued_at=issued_at if isinstance(issued_at, str) else "",
        origin=origin,
        problem=None if isinstance(args, dict) else "args must be a JSON object",
    )


def check_envelope(command: Command, now_ms: int, max_age_seconds: float) -> int:
    """Check action, args and issued_at; return issued_at in UTC ms. Raises Refusal."""
    if command.action not in ACTIONS:
        raise command.refuse(f"unknown action (known: {', '.join(ACTIONS)})")
    if command.problem is not None:
        raise command.refuse(command.problem)
    issued_ms = parse_rfc3339(command.issued_at)
    if issued_ms is None:
        raise command.refuse(
            f"issued_at {command.issued_at!r} is not an RFC 3339 time with an offset"
        )
    age_s = (now_ms - issued_ms) / 1000
    if age_s > max_age_seconds:
        raise command.refuse(
            f"issued_at {command.issued_at} is {age_s:.0f} s old, more than"
            f" uplink.commands.max_age_seconds ({max_age_seconds:g} s): replayed or delayed"
        )
    if -age_s > max_age_seconds:
        raise command.refuse(
            f"issued_at {command.issued_at} is {-age_s:.0f} s in the future: check the clocks"
        )
    return issued_ms


def parse_rfc3339(text: str) -> int | None:
    """UTC ms of an RFC 3339 time that carries an offset, else None."""
    try:
        parsed = datetime.fromisoformat(text)
        if parsed.tzinfo is None:
            return None
        return int(parsed.astimezone(UTC).timestamp() * 1000)
    except (ValueError, OverflowError):  # not a time, or not one in UTC's years 1-9999
        return None


def result_message(
    command_id: str | None,
    action: str | None,
    state: str,
    *,
    result: dict[str, Any] | None = None,
    error: str | None = None,
) -> dict[str, Any]:
    """What `control/<site>/result` carries: id, action, state, and result or error."""
    message: dict[str, Any] = {"id": command_id, "action": action, "state": state}
    if error is not None:
        message["error"] = error
    else:
        message["result"] = result or {}
    return message
