"""The command runner: one thread that checks, stores, carries out and answers commands.

Messages arrive from paho's network thread through `submit`, which only queues them:
nothing slow (the state file, ffmpeg) ever runs in the network thread, so keep-alives and
other messages keep flowing. See docs/design/commands.md, "Procedures".
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from nvr.core.errors import NvrError, StateError
from nvr.core.redact import Secret, redact_text
from nvr.core.state import StateStore, now_ms
from nvr.uplink.commands import journal
from nvr.uplink.commands.base import Action, Context, Outcome
from nvr.uplink.commands.clip import RequestClip
from nvr.uplink.commands.constants import (
    ACCEPTED,
    DONE,
    FAILED,
    ORIGIN_MQTT,
    POLL_SECONDS,
    REFUSAL_REPORTS_PER_MINUTE,
    REJECTED,
    TOPIC_CONTROL,
)
from nvr.uplink.commands.get_status import GetStatus
from nvr.uplink.commands.journal import Stored
from nvr.uplink.commands.snapshot import Snapshot
from nvr.uplink.commands.wire import (
    Command,
    Destination,
    Refusal,
    authenticate,
    check_envelope,
    read_object,
    result_message,
    unverified_refusal,
)

log = logging.getLogger(__name__)

ACTIONS: dict[str, Action] = {a.name: a for a in (GetStatus(), RequestClip(), Snapshot())}
COUNTED = ("received", ACCEPTED, REJECTED, DONE, FAILED)
# Publishes a result message (to control/<site>/result).
Publish = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class Incoming:
    """One message from the centre, as received."""

    payload: bytes
    origin: str


class RefusalBudget:
    """At most `per_minute` reports of unauthenticated refusals; the rest are counted."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._per_minute = per_minute
        self._clock = clock
        self._sent: collections.deque[float] = collections.deque()
        self.suppressed = 0

    def allow(self) -> bool:
        """True if this refusal may be reported; False counts it as suppressed."""
        now = self._clock()
        while self._sent and now - self._sent[0] > 60:
            self._sent.popleft()
        if len(self._sent) >= self._per_minute:
            self.suppressed += 1
            return False
        self._sent.append(now)
        return True


class CommandRunner:
    """Checks each command, stores it, steps the accepted ones until they finish."""

    def __init__(self, ctx: Context, publish: Publish, origin: str = ORIGIN_MQTT) -> None:
        self.ctx = ctx
        self._publish = publish
        # Each channel's runner resumes its own commands only, so a restart never runs one
        # twice (docs/design/hse-edge.md, invariant 8).
        self.origin = origin
        self._inbox: collections.deque[Incoming] = collections.deque()
        self._wake = threading.Event()
        self.stop_event = threading.Event()
        self._active: dict[str, Stored] = {}
        self._budget = RefusalBudget(REFUSAL_REPORTS_PER_MINUTE)
        # All keys up front: the daemon's thread copies this while the runner counts.
        self.counts = collections.Counter(dict.fromkeys(COUNTED, 0))
        self._thread = threading.Thread(target=self._run, name="uplink-commands", daemon=True)

    # -- thread --------------------------------------------------------------------------
    def start(self) -> None:
        """Start the thread; it first resumes commands a previous process left unfinished."""
        self._thread.start()

    def stop(self, timeout: float) -> None:
        """Stop after the current step (an export in progress finishes first)."""
        self.stop_event.set()
        self._wake.set()
        self._thread.join(timeout)

    def submit(self, payload: bytes, origin: str) -> None:
        """Queue a message (called from paho's network thread: must not block)."""
        self._inbox.append(Incoming(payload, origin))
        self._wake.set()

    @property
    def active(self) -> int:
        """Accepted commands not finished yet."""
        return len(self._active)

    def _run(self) -> None:
        with StateStore.open(self.ctx.state_file) as store:
            self._resume(store)
            while not self.stop_event.is_set():
                self._wake.clear()
                try:
                    self._take_inbox(store)
                    self._step_active(store)
                except StateError as err:
                    log.warning("commands: state file: %s; retrying", err)
                self._wake.wait(POLL_SECONDS)

    def _resume(self, store: StateStore) -> None:
        for stored in journal.unfinished(store.read()):
            if stored.command.origin != self.origin:
                continue
            log.info(
                "command action=%s id=%s origin=%s: resuming after a restart",
                stored.command.action,
                stored.command.id,
                stored.command.origin,
            )
            self._active[stored.command.id] = stored

    # -- arrival -------------------------------------------------------------------------
    def _take_inbox(self, store: StateStore) -> None:
        while self._inbox and not self.stop_event.is_set():
            message = self._inbox[0]
            try:
                self._receive(store, message)
            except StateError:
                raise  # the message stays queued for the next pass
            except Exception:
                # A bug must cost one message, not the runner thread.
                log.exception("commands: a message from %s could not be handled", message.origin)
            self._inbox.popleft()

    def _receive(self, store: StateStore, message: Incoming) -> None:
        """Authenticate, look up, check and store one message; answer it."""
        self.counts["received"] += 1
        try:
            obj = read_object(message.payload)
            command = authenticate(obj, self._secrets(obj), message.origin, self._destination())
        except Refusal as refusal:
            self._refuse_unstored(store, refusal, message.origin)
            return
        known = journal.find(store.read(), command.id)
        if known is not None:
            self._repeat(known)
            return
        self._admit(store, command)

    def _destination(self) -> Destination:
        """Our site and its control topic: what a command must be signed for."""
        site = self.ctx.config.site.id
        return Destination(site, TOPIC_CONTROL.format(site=site))

    def _secrets(self, obj: dict[str, Any]) -> tuple[Secret, ...]:
        """The keys commands are checked with; Refusal when this site takes no commands.

        During a rotation window, the previous site secret too (config/uplink.py).
        """
        if not self.ctx.config.uplink.commands.enabled:
            raise unverified_refusal(
                obj, "commands are disabled on this site (uplink.commands.enabled)"
            )
        keys = self.ctx.config.uplink.commands_secrets(datetime.now(UTC))
        if not keys:
            raise unverified_refusal(
                obj,
                "no command secret configured (uplink.commands.secret or"
                " uplink.head_office.secret)",
            )
        return keys

    def _admit(self, store: StateStore, command: Command) -> None:
        now = now_ms()
        issued_ms: int | None = None
        try:
            issued_ms = check_envelope(
                command, now, self.ctx.config.uplink.commands.max_age_seconds
            )
            plan = ACTIONS[command.action].check(command, self.ctx, store.read(), now)
        except Refusal as refusal:
            message = result_message(command.id, command.action, REJECTED, error=refusal.reason)
            if journal.record(
                store, self.ctx.config.site.id, command, message, issued_at_ms=issued_ms
            ):
                self._answer(command, message)
            return
        message = result_message(command.id, command.action, ACCEPTED, result=plan.notes)
        stored = journal.record(
            store,
            self.ctx.config.site.id,
            command,
            message,
            issued_at_ms=issued_ms,
            progress=plan.progress,
        )
        if stored is not None:
            self._active[command.id] = stored
            self._answer(command, message)

    def _refuse_unstored(self, store: StateStore, refusal: Refusal, origin: str) -> None:
        """Answer and report a refusal that takes no row (it is not the centre's, or has no id)."""
        message = result_message(refusal.command_id, refusal.action, REJECTED, error=refusal.reason)
        self.counts[REJECTED] += 1
        log.warning(
            "command action=%s id=%s origin=%s outcome=rejected: %s",
            refusal.action,
            refusal.command_id,
            origin,
            refusal.reason,
        )
        if refusal.authenticated or self._budget.allow():
            if self._budget.suppressed:
                message = {**message, "refusals_not_reported": self._budget.suppressed}
                self._budget.suppressed = 0
            journal.report_unstored(store, self.ctx.config.site.id, message, origin)
        self._publish(message)

    def _repeat(self, known: Stored) -> None:
        """A known id: never run twice; say again what was said last."""
        command = known.command
        log.info(
            "command action=%s id=%s origin=%s outcome=repeat: already %s, not run again",
            command.action,
            command.id,
            command.origin,
            known.state,
        )
        self._publish(known.result)

    def _answer(self, command: Command, message: dict[str, Any]) -> None:
        """Log the one line of a state change and publish it."""
        self.counts[message["state"]] += 1
        detail = message.get("error") or _summary(message.get("result") or {})
        log.log(
            logging.WARNING if message["state"] in (REJECTED, FAILED) else logging.INFO,
            "command action=%s id=%s origin=%s outcome=%s%s",
            command.action,
            command.id,
            command.origin,
            message["state"],
            f": {detail}" if detail else "",
        )
        self._publish(message)

    # -- execution -----------------------------------------------------------------------
    def _step_active(self, store: StateStore) -> None:
        for command_id, stored in list(self._active.items()):
            if self.stop_event.is_set():
                return
            outcome = self._step(store, stored)
            if outcome is None:
                continue
            command = stored.command
            message = result_message(
                command.id,
                command.action,
                outcome.state,
                result=outcome.result,
                error=outcome.error,
            )
            journal.finish(store, self.ctx.config.site.id, stored, message)
            del self._active[command_id]
            self._answer(command, message)

    def _step(self, store: StateStore, stored: Stored) -> Outcome | None:
        """One step; a failure of the action ends the command, a busy state file does not."""
        try:
            return ACTIONS[stored.command.action].step(store, self.ctx, stored, now_ms())
        except StateError:
            raise
        except NvrError as err:
            return Outcome.failed(redact_text(str(err)))
        except Exception:
            log.exception(
                "command action=%s id=%s: unexpected error",
                stored.command.action,
                stored.command.id,
            )
            return Outcome.failed("internal error in nvr-uplink (see its log)")


def _summary(result: dict[str, Any]) -> str:
    """The few result fields worth a log line (never a whole status)."""
    keys = ("minio_file_path", "minio_image_path", "seq", "missing")
    return " ".join(f"{key}={result[key]}" for key in keys if result.get(key))
