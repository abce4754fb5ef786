"""A camera that keeps dropping out raises one warning event, for the reports (issue 24)."""

from __future__ import annotations

from collections.abc import Callable

from nvr.backup.dropouts import DROPOUTS_EVENT_KIND, DROPOUTS_TO_WARN
from nvr_camsim import CameraSimulator
from nvr_camsim.faults import Fault
from nvrtest import wait_until

from .harness import Backup

MakeBackup = Callable[..., Backup]


def test_a_camera_dropping_out_three_times_raises_one_event_and_retries_do_not_count(
    backup_factory: MakeBackup, sim: CameraSimulator
) -> None:
    backup = backup_factory(
        ["cam03"],
        segment_seconds=2,
        liveness_probe_seconds=1,
        backoff={"initial_seconds": 1, "factor": 1.0, "max_seconds": 1,
                 "warn_after_failures": 3, "critical_after_failures": 6},
    )  # fmt: skip
    backup.start()
    for dropout in range(1, DROPOUTS_TO_WARN + 1):
        recorded = len(backup.segments("cam03"))
        wait_until(lambda n=recorded: len(backup.segments("cam03")) > n, 60, f"recording {dropout}")
        warned = len(backup.events("camera_not_recording", "cam03"))
        sim.set_fault("cam03", Fault.OFFLINE)
        # Several failed retries while it is away (the warning comes at the third): attempts,
        # not dropouts.
        wait_until(
            lambda n=warned: len(backup.events("camera_not_recording", "cam03")) > n,
            60,
            f"the retries' warning {dropout}",
        )
        if dropout < DROPOUTS_TO_WARN:
            assert backup.events(DROPOUTS_EVENT_KIND, "cam03") == []
        sim.set_fault("cam03", None)
        wait_until(
            lambda n=dropout: len(backup.events("camera_recovered", "cam03")) >= n,
            60,
            f"recovery {dropout}",
        )
    events = wait_until(lambda: backup.events(DROPOUTS_EVENT_KIND, "cam03"), 30, "the event")
    assert len(events) == 1
    severity, message = events[0]
    assert severity == "warning"
    assert f"camera=cam03 dropped out {DROPOUTS_TO_WARN} times in 15 min" in message
    assert "camera offline" in message
    backup.stop()
