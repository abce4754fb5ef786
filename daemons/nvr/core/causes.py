"""Few words for many gap reasons: what a person must tell apart at a glance (issue 24).

nvr.core.tables.recordings.EndReason has a precise reason per way a run can end (17 of them);
a timeline coloured by each was 11 colours nobody could tell apart. Every consumer that
groups reasons (the status page legend, its dropout counts) uses this one mapping, and
shows the precise reason next to it (tooltip, list).
"""

from __future__ import annotations

from nvr.core.tables.recordings import (
    GAP_IN_PROGRESS,
    GAP_NO_SEGMENTS,
    GAP_NOT_RECORDING,
    EndReason,
)

CAMERA = "camera or network"  # the far side: fix the camera, its cable, its password
BOX = "box: disk or recorder"  # this side: disk, recorder process, power
PAUSED = "not recording"  # by design: stopped, paused by policy, removed, not yet started
IN_PROGRESS = "segment in progress"  # not a gap: the open segment is indexed when it closes

CAUSES: dict[str, str] = {
    EndReason.CAMERA_OFFLINE: CAMERA,
    EndReason.AUTH_FAILED: CAMERA,
    EndReason.TRANSPORT_REFUSED: CAMERA,
    EndReason.NOT_FOUND: CAMERA,
    EndReason.STALLED: CAMERA,
    EndReason.DISK_NOT_MOUNTED: BOX,
    EndReason.DISK_READ_ONLY: BOX,
    EndReason.DIRECTORY_MISSING: BOX,
    EndReason.DIRECTORY_NOT_WRITABLE: BOX,
    EndReason.DISK_FULL: BOX,
    EndReason.FFMPEG_ERROR: BOX,
    EndReason.CRASHED: BOX,
    EndReason.POWER_LOSS: BOX,
    EndReason.CLOCK_STEP: BOX,
    EndReason.CONFIG_CHANGED: PAUSED,
    EndReason.CAMERA_REMOVED: PAUSED,
    EndReason.SHUTDOWN: PAUSED,
    EndReason.PICTURE_POLICY: PAUSED,
    GAP_NOT_RECORDING: PAUSED,
    GAP_NO_SEGMENTS: BOX,
    GAP_IN_PROGRESS: IN_PROGRESS,
}


def cause_of(reason: str) -> str:
    """The group word of a gap reason; a reason not listed (retention, ...) reads as paused."""
    return CAUSES.get(reason, PAUSED)


def is_dropout(reason: str) -> bool:
    """A gap someone must look at: the camera or the box lost video it should have recorded."""
    return cause_of(reason) in (CAMERA, BOX)
