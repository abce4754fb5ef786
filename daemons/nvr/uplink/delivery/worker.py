"""One thread per destination: take pending rows, send them in order, move the cursor.

The cursor moves only after the receiver answered 2xx (or refused for good), in one
transaction with the dead letters: a crash in between re-sends, and the receiver's
dedupe on the report id makes that harmless (docs/design/outbox.md, invariants 2-4).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nvr.core.backoff import Backoff
from nvr.core.errors import StateError
from nvr.core.state import StateStore
from nvr.core.tables.events import Severity, record_event
from nvr.core.tables.outbox import DISPLAY_NAME
from nvr.uplink.constants import EVENT_SOURCE, IDLE_POLL_SECONDS, RETRY_FACTOR, RETRY_JITTER
from nvr.uplink.delivery.adapters import Adapter
from nvr.uplink.delivery.circuit import CircuitBreaker, CircuitState
from nvr.uplink.delivery.pending import OutboxRow, advance, pending
from nvr.uplink.delivery.transport import Outcome, Request, Transport, Verdict
from nvr.uplink.passes import PassThread

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetryPolicy:
    """Back-off and circuit settings of one destination."""

    initial: float
    maximum: float
    circuit_failures: int
    circuit_open_seconds: float


class DestinationWorker(PassThread):
    """Delivers the outbox to one destination, in order.

    On stop, a request in flight may take its timeout.
    """

    def __init__(
        self,
        adapter: Adapter,
        transport: Transport,
        state_file: Path,
        policy: RetryPolicy,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(f"uplink-{adapter.name}", state_file)
        self.adapter = adapter
        self.transport = transport
        self.state_file = state_file
        self._clock = clock
        self._backoff = Backoff(policy.initial, RETRY_FACTOR, policy.maximum, RETRY_JITTER)
        self.circuit = CircuitBreaker(policy.circuit_failures, policy.circuit_open_seconds, clock)
        self._next_attempt = 0.0
        # After a batch was refused, rows up to this id go one by one to find the bad one.
        self._single_through = 0
        self._warned: str | None = None
        self.last_error = ""
        self.delivered = 0

    @property
    def label(self) -> str:
        """The name in logs and the status line."""
        return DISPLAY_NAME.get(self.adapter.name, self.adapter.name)

    # -- thread ----------------------------------------------------------------------------
    def start(self) -> None:
        """Start the thread."""
        self._thread.start()

    def _pass(self, store: StateStore) -> float:
        try:
            return self.step(store)
        except StateError as err:
            log.warning("destination=%s: state file: %s", self.label, err)
            return IDLE_POLL_SECONDS

    # -- one step --------------------------------------------------------------------------
    def step(self, store: StateStore) -> float:
        """Deliver what is due; return the seconds to wait before the next step."""
        now = self._clock()
        if now < self._next_attempt:
            return self._next_attempt - now
        rows = pending(store, self.adapter.name, self.adapter.batch_max)
        if rows and rows[0].id <= self._single_through:
            rows = rows[:1]
        if not rows:
            return IDLE_POLL_SECONDS
        for request in self.adapter.requests(rows):
            wait = self._deliver(store, request)
            if wait is not None:
                return wait
        return 0.0

    def _deliver(self, store: StateStore, request: Request) -> float | None:
        """Send one request and book its outcome; a wait means stop this step."""
        if request.method == "SKIP":
            self._done(store, request.rows)
            return None
        outcome = self.transport.send(request)
        if outcome.verdict is Verdict.DELIVERED:
            self._recovered()
            self._done(store, request.rows)
            return None
        if outcome.verdict is Verdict.REFUSED:
            return self._refused(store, request, outcome)
        if outcome.verdict is Verdict.THROTTLED:
            return self._throttled(outcome)
        return self._failed(outcome)

    def _done(self, store: StateStore, rows: tuple[OutboxRow, ...], dead: str = "") -> None:
        if not rows:
            return
        advance(store, self.adapter.name, rows[-1].id, [(r, dead) for r in rows] if dead else ())
        if not dead:
            self.delivered += len(rows)

    def _refused(self, store: StateStore, request: Request, outcome: Outcome) -> float | None:
        self._recovered()
        if len(request.rows) > 1:
            # Which report did the receiver refuse? Send this stretch one by one.
            self._single_through = request.rows[-1].id
            log.warning(
                "destination=%s: batch of %d refused (%s); sending them one by one",
                self.label,
                len(request.rows),
                outcome.detail,
            )
            return 0.0
        self._done(store, request.rows, dead=outcome.detail)
        for row in request.rows:
            message = f"{self.label} refused report seq {row.seq} ({row.kind}): {outcome.detail}"
            record_event(
                store,
                source=EVENT_SOURCE,
                severity=Severity.WARNING,
                kind="uplink_dead_letter",
                message=message,
                data={
                    "destination": self.adapter.name,
                    "seq": row.seq,
                    "report_id": row.report_id,
                    "status": outcome.status,
                },
            )
        return None

    def _throttled(self, outcome: Outcome) -> float:
        wait = outcome.retry_after if outcome.retry_after is not None else self._backoff.failed()
        self.last_error = f"{outcome.detail}, retry after {wait:.0f}s"
        log.info("destination=%s: throttled (%s); waiting %.1fs", self.label, outcome.detail, wait)
        self._next_attempt = self._clock() + wait
        return wait

    def _failed(self, outcome: Outcome) -> float:
        self.last_error = outcome.detail
        opened = self.circuit.failed()
        wait = self.circuit.remaining() if opened else self._backoff.failed()
        if self._warned != outcome.detail:
            # A repeated warning is said once until the state changes.
            log.warning("destination=%s: delivery failed: %s; retrying", self.label, outcome.detail)
            self._warned = outcome.detail
        if opened:
            log.warning(
                "destination=%s: circuit open for %.1fs after %d failures",
                self.label,
                wait,
                self.circuit.failures,
            )
        self._next_attempt = self._clock() + wait
        return wait

    def _recovered(self) -> None:
        if self._warned is not None or self.circuit.failures:
            log.info("destination=%s: delivering again", self.label)
        self._warned = None
        self.last_error = ""
        self._backoff.succeeded()
        self.circuit.succeeded()

    # -- status ----------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """State for the status line and the heartbeat."""
        state = self.circuit.state
        retry_in = max(0.0, self._next_attempt - self._clock())
        if state is CircuitState.CLOSED:
            health = "retrying" if self.last_error else "ok"
        else:
            health = f"circuit {state}"
        return {
            "health": health,
            "retry_in_s": round(retry_in, 1),
            "last_error": self.last_error,
            "delivered": self.delivered,
        }
