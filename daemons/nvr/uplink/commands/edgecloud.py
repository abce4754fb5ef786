"""The edge/cloud design's command form, read beside ours (docs/design/hse-edge.md).

The centre of the edge/cloud design writes `{"command": "request_clip", "payload":
{"camera_id", "start_time", "duration"}}`; ours is `{"action", "args": {"camera", "start",
"duration"}}`. Both carry the same envelope (`id`, `issued_at`, `site`, `topic`,
`signature` over the canonical JSON of the object as sent), so signing, idempotency and
replies are the same; only the action and its arguments are read differently.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from nvr.uplink.commands.constants import REQUEST_CLIP, SNAPSHOT

COMMAND_KEY = "command"
PAYLOAD_KEY = "payload"
# The edge/cloud payload's names -> ours, per action (names not listed pass as they are).
ARG_NAMES: dict[str, dict[str, str]] = {
    REQUEST_CLIP: {"camera_id": "camera", "start_time": "start"},
    SNAPSHOT: {"camera_id": "camera"},
}


def is_edge_cloud(obj: dict[str, Any]) -> bool:
    """The message is written in the edge/cloud form (a `command`, no `action`)."""
    return COMMAND_KEY in obj and "action" not in obj


def action_and_args(obj: dict[str, Any]) -> tuple[Any, Any]:
    """The action and the arguments, in our names, from either form (not checked yet)."""
    if not is_edge_cloud(obj):
        return obj.get("action"), obj.get("args", {})
    action, payload = obj.get(COMMAND_KEY), obj.get(PAYLOAD_KEY, {})
    if not isinstance(action, str) or not isinstance(payload, dict):
        return action, payload
    names = ARG_NAMES.get(action, {})
    args = {names.get(key, key): value for key, value in payload.items()}
    if isinstance(args.get("start"), str):
        args["start"] = utc_if_naive(args["start"])
    return action, args


def utc_if_naive(text: str) -> str:
    """`2024-01-15T10:00:00` (the design's examples carry no offset) read as UTC.

    Ours insists on an offset; the edge/cloud centre writes UTC without one. A text that is
    not a time is left as it is, for the action's own check to refuse.
    """
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return text
    return text + "+00:00" if parsed.tzinfo is None else text
