"""A minimal daemon on the real runtime, run as a child process by test_service.py.

It behaves like the real daemons where the runtime is concerned, with two test hooks read
from files beside the state file: `hang` makes the next tick block (a hung work loop), and
`tick-error` makes ticks raise.
"""

from __future__ import annotations

import logging
import sys
import threading

from nvr.core.service import Daemon, run_daemon

log = logging.getLogger("nvr.sample")


class SampleDaemon(Daemon):
    name = "nvr-sample"
    tick_seconds = 0.05

    def start(self) -> None:
        self.ticks = 0
        # Real daemons pass camera URLs to ffmpeg and log around it; the log must not leak.
        for camera in self.config.enabled_cameras:
            log.info("would connect camera=%s via %s", camera.id, camera.url.reveal())

    def tick(self) -> None:
        state_dir = self.config.storage.state_file.parent
        if (state_dir / "hang").exists():
            threading.Event().wait(3600)
        if (state_dir / "tick-error").exists():
            raise RuntimeError("simulated failure in a tick")
        self.ticks += 1

    def status_line(self) -> str:
        names = ", ".join(c.name or c.id for c in self.config.enabled_cameras)
        return f"watching {len(self.config.enabled_cameras)} cameras → {names}"

    def apply_config(self, new: object) -> None:
        log.info("applying reloaded config")
        super().apply_config(new)  # type: ignore[arg-type]


if __name__ == "__main__":
    sys.exit(run_daemon(SampleDaemon))
