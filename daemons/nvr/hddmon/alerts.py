"""Conditions that are announced once when they begin and once when they end.

A warning repeated every 30 s buries everything else in the log; an event per check
floods the outbox. Each condition has a key; raising an active key does nothing.
"""

from __future__ import annotations

import logging
from typing import Any

from nvr.core.state import StateStore
from nvr.core.tables.events import Severity, record_event
from nvr.hddmon.constants import SOURCE

log = logging.getLogger(__name__)


class Alerts:
    """The active conditions of this daemon, with their one-line messages."""

    def __init__(self, store: StateStore) -> None:
        self._store = store
        self._active: dict[str, tuple[Severity, str, str]] = {}

    def raise_(
        self,
        key: str,
        severity: Severity,
        kind: str,
        message: str,
        *,
        short: str = "",
        data: dict[str, Any] | None = None,
        refresh: bool = False,
    ) -> bool:
        """Record the event unless `key` is already active at this severity; True if recorded.

        `short` is the condition's few words for the STATUS line. With `refresh`, a changed
        message is recorded again (a growing count of bad sectors is news).
        """
        current = self._active.get(key)
        if (
            current is not None
            and current[0] == severity
            and (not refresh or current[1] == message)
        ):
            return False
        self._active[key] = (severity, message, short or kind)
        record_event(
            self._store, source=SOURCE, severity=severity, kind=kind, message=message, data=data
        )
        return True

    def clear(self, key: str, kind: str, message: str, data: dict[str, Any] | None = None) -> bool:
        """Record an info event if `key` was active; True if it was."""
        if self._active.pop(key, None) is None:
            return False
        record_event(
            self._store,
            source=SOURCE,
            severity=Severity.INFO,
            kind=kind,
            message=message,
            data=data,
        )
        return True

    def is_active(self, key: str) -> bool:
        """True while the condition lasts."""
        return key in self._active

    def active(self, minimum: Severity = Severity.WARNING) -> list[tuple[Severity, str, str]]:
        """(severity, message, short) of active conditions at `minimum` or worse, worst first."""
        order = [Severity.CRITICAL, Severity.WARNING, Severity.INFO]
        wanted = order[: order.index(minimum) + 1]
        return [
            entry for severity in wanted for entry in self._active.values() if entry[0] == severity
        ]
