"""Simulated IP cameras for the tests, the benchmarks and the demo (`nvr-camsim`).

One mediamtx instance and one ffmpeg publisher per camera, looping a pre-encoded H.264
clip with `-c copy`; faults (offline, black, frozen, blurred, dark, wrong resolution, wrong
password) are selectable per camera and switchable while running.
"""

from nvr_camsim.clips import ClipSpec, Region, Variant, clock_region, ensure_clip
from nvr_camsim.errors import CamsimError, ClipError, MediamtxError
from nvr_camsim.faults import Fault, parse_fault
from nvr_camsim.mediamtx import MediamtxServer
from nvr_camsim.simulator import CameraSimulator, CameraStatus

__all__ = [
    "CameraSimulator",
    "CameraStatus",
    "CamsimError",
    "ClipError",
    "ClipSpec",
    "Fault",
    "MediamtxError",
    "MediamtxServer",
    "Region",
    "Variant",
    "clock_region",
    "ensure_clip",
    "parse_fault",
]
