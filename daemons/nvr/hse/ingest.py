"""The local ingest API's rules: what a posted event must look like, and how often.

Other systems on the site (an AI box that saw no helmet, a fire panel, a door controller)
POST `{camera, type, time?, details?}`; a valid one is stored as an `external_alarm`
event before the 2xx (docs/design/hse.md, invariant 6).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from nvr.core.alarms import EXTERNAL_KIND
from nvr.core.config import Config
from nvr.core.state import StateStore
from nvr.core.tables.events import Severity, record_event
from nvr.core.timeutil import format_ms
from nvr.hse.constants import DAEMON_NAME, INGEST_DETAILS_MAX_BYTES, INGEST_TYPE_MAX

FIELDS = ("camera", "type", "time", "details")
TYPE_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.-]*$")
# A posted time this far ahead of our clock is a wrong clock, not an alarm from the future;
# one before this box's kind existed is a sender whose clock was never set.
MAX_FUTURE = timedelta(minutes=5)
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)


class BadField(ValueError):
    """A posted field is missing or wrong: `field` names it, the message says what."""

    def __init__(self, field: str, problem: str, status: int = 400) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.status = status


@dataclass(frozen=True)
class Posted:
    """A valid posted event."""

    camera: str
    alarm_type: str
    at: str | None
    details: dict[str, Any]


def decode(raw: bytes) -> Any:
    """The posted body as JSON; BadField("body") for what is not JSON as every client reads it.

    NaN and Infinity are refused (JSON has no such numbers: the centre's parsers may choke
    on the alarm that repeats them), and so is nesting deeper than Python's recursion
    limit, which json.loads answers with RecursionError rather than a ValueError.
    """
    try:
        return json.loads(raw, parse_constant=_no_constant)
    except (ValueError, RecursionError) as err:  # JSONDecodeError, UnicodeDecodeError too
        problem = "nested too deeply" if isinstance(err, RecursionError) else "not JSON"
        raise BadField("body", problem) from None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def parse(body: Any, config: Config, now: datetime) -> Posted:
    """Check a posted JSON body field by field; BadField names the first wrong one."""
    if not isinstance(body, dict):
        raise BadField("body", "must be a JSON object {camera, type, time?, details?}")
    for key in body:
        if key not in FIELDS:
            raise BadField(str(key), f"unknown field (expected {', '.join(FIELDS)})")
    camera = body.get("camera")
    if not isinstance(camera, str) or not camera:
        raise BadField("camera", "required: a camera id of this box")
    if config.camera(camera) is None:
        raise BadField("camera", f"unknown camera {camera[:64]!r}", status=404)
    kind = body.get("type")
    if not isinstance(kind, str) or not TYPE_PATTERN.match(kind) or len(kind) > INGEST_TYPE_MAX:
        raise BadField(
            "type", f"required: a word of at most {INGEST_TYPE_MAX} characters, e.g. NoHelmet"
        )
    return Posted(camera, kind, _time(body.get("time"), now), _details(body.get("details")))


def _time(value: Any, now: datetime) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadField("time", "must be an ISO 8601 time with its zone, e.g. 2026-12-01T08:00:00Z")
    try:
        at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadField("time", "not an ISO 8601 time, e.g. 2026-12-01T08:00:00Z") from None
    if at.tzinfo is None:
        raise BadField("time", "needs a time zone (Z or +hh:mm)")
    if at > now + MAX_FUTURE:
        raise BadField("time", "is in the future (check the sender's clock)")
    if at < EARLIEST:
        raise BadField("time", "is before 2000 (check the sender's clock)")
    return format_ms(int(at.timestamp() * 1000))


def _details(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadField("details", "must be a JSON object")
    if len(json.dumps(value)) > INGEST_DETAILS_MAX_BYTES:
        raise BadField("details", f"larger than {INGEST_DETAILS_MAX_BYTES} bytes")
    return value


def store_posted(store: StateStore, posted: Posted, client: str) -> int:
    """The event row (committed, synced: the state file is synchronous=FULL); its id."""
    data: dict[str, Any] = {"alarm_type": posted.alarm_type, "details": posted.details}
    data["client"] = client
    if posted.at is not None:
        data["alarm_time"] = posted.at
    return record_event(
        store,
        source=DAEMON_NAME,
        severity=Severity.CRITICAL,
        kind=EXTERNAL_KIND,
        camera=posted.camera,
        message=f"camera={posted.camera} {posted.alarm_type} reported by {client}",
        data=data,
    )


class RateLimit:
    """A token bucket per client: `burst` at once, then `per_minute` (429 beyond)."""

    def __init__(
        self, per_minute: int, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}

    def allow(self, client: str) -> float:
        """0 when the request may go on, else the seconds to wait."""
        now = self._clock()
        tokens, last = self._buckets.get(client, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        if tokens < 1.0:
            self._buckets[client] = (tokens, now)
            return (1.0 - tokens) / self.rate
        self._buckets[client] = (tokens - 1.0, now)
        if len(self._buckets) > 10_000:  # a scan from many addresses must not grow this
            self._buckets.clear()
        return 0.0
