"""Event reports, coalesced so a flapping camera cannot flood the link.

The first notice for a key (a camera, a check, a daemon) goes out at once; later ones
within the window are held and leave as one summary when the window ends.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from nvr.core.alarm_clips import FOLLOW_UP_KINDS
from nvr.core.alarms import is_alarm
from nvr.core.outbox import KIND_ALARM, KIND_EVENT
from nvr.core.timeutil import format_ms

SEVERITY_RANK = {"info": 0, "warning": 1, "critical": 2}


@dataclass(frozen=True)
class Notice:
    """Something to report: an event row, a failed validation, a daemon restart."""

    key: str
    kind: str
    severity: str
    message: str
    at_ms: int
    camera: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class EventReport:
    """A report ready for the outbox: its kind (event or alarm) and body."""

    kind: str
    body: dict[str, Any]


def report_for(notices: list[Notice], window_s: int) -> EventReport:
    """One report for one or more notices of the same key."""
    last = notices[-1]
    severity = max((n.severity for n in notices), key=SEVERITY_RANK.__getitem__)
    body: dict[str, Any] = {
        "event": last.kind,
        "severity": severity,
        "camera": last.camera,
        "message": last.message,
        "count": len(notices),
        "first_at": format_ms(notices[0].at_ms),
        "last_at": format_ms(last.at_ms),
        "data": last.data,
    }
    if len(notices) > 1:
        kinds = Counter(n.kind for n in notices)
        body["coalesced"] = dict(kinds)
        body["message"] = (
            f"{len(notices)} events within {window_s}s ({_kinds(kinds)}); latest: {last.message}"
        )
    # Which events are alarms is nvr.core.alarms' call (docs/design/hse.md, invariant 1).
    alarm = is_alarm(last.kind, severity, last.data)
    return EventReport(KIND_ALARM if alarm else KIND_EVENT, body)


def _kinds(kinds: Counter[str]) -> str:
    return ", ".join(f"{count} {kind}" for kind, count in sorted(kinds.items()))


class Coalescer:
    """At most one report per key per window."""

    def __init__(self, window_ms: int) -> None:
        self.window_ms = window_ms
        self._last_sent: dict[str, int] = {}
        self._held: dict[str, list[Notice]] = {}

    def offer(self, notice: Notice, now_ms: int) -> EventReport | None:
        """A report to send now, or None when the notice is held for the window."""
        if notice.kind in FOLLOW_UP_KINDS:
            # An alarm's clip path: each one names its own alarm, and a summary keeps only
            # the last notice's data (docs/design/hse-edge.md, invariant 6).
            return report_for([notice], self.window_ms // 1000)
        sent = self._last_sent.get(notice.key)
        if notice.key not in self._held and (sent is None or now_ms - sent >= self.window_ms):
            self._last_sent[notice.key] = now_ms
            return report_for([notice], self.window_ms // 1000)
        self._held.setdefault(notice.key, []).append(notice)
        return None

    def due(self, now_ms: int) -> list[EventReport]:
        """Summaries of held notices whose window has ended."""
        ready = [k for k in self._held if now_ms - self._last_sent.get(k, 0) >= self.window_ms]
        out = []
        for key in ready:
            self._last_sent[key] = now_ms
            out.append(report_for(self._held.pop(key), self.window_ms // 1000))
        return out

    def flush(self) -> list[EventReport]:
        """Every held summary now (clean stop)."""
        out = [report_for(notices, self.window_ms // 1000) for notices in self._held.values()]
        self._held.clear()
        return out

    @property
    def held(self) -> int:
        """Notices waiting for their window."""
        return sum(len(n) for n in self._held.values())
