"""One background thread that runs passes over the state file until it is asked to stop.

The report destinations, the heartbeat, the MinIO uploads, the alarm clips and the Socket.IO
link each own one such thread: it opens the state file once, runs a pass, waits the seconds
the pass asked for (or until stopped), and again.
"""

from __future__ import annotations

import threading
from pathlib import Path

from nvr.core.state import StateStore


class PassThread:
    """The thread and its stop; a subclass writes `_pass` (and what it catches in it)."""

    def __init__(self, thread_name: str, state_file: Path) -> None:
        self.stop_event = threading.Event()
        self._pass_state_file = state_file
        self._thread = threading.Thread(target=self._run, name=thread_name, daemon=True)

    def stop(self, timeout: float) -> None:
        """Ask the thread to end after the current pass and wait for it up to `timeout`."""
        self.stop_event.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        with StateStore.open(self._pass_state_file) as store:
            while not self.stop_event.is_set():
                wait = self._pass(store)
                if wait is None:
                    return
                self.stop_event.wait(wait)

    def _pass(self, store: StateStore) -> float | None:
        """One pass; return the seconds to wait before the next, or None to end the thread."""
        raise NotImplementedError
