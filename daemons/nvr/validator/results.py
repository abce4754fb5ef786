"""What a check finds: a status, the measured values and a reason a technician understands."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np
import numpy.typing as npt


class Status(StrEnum):
    """The verdict of one check; the order of severity is ok < warn < fail."""

    OK = "ok"
    WARN = "warn"
    FAIL = "fail"


_RANK = {Status.OK: 0, Status.WARN: 1, Status.FAIL: 2}


class Check(StrEnum):
    """The names stored in `validations.check_name`."""

    REACHABLE = "reachable"
    STREAM = "stream"
    BLACK = "black"
    EXPOSURE = "exposure"
    COVERED = "covered"
    BLUR = "blur"
    FROZEN = "frozen"


@dataclass(frozen=True)
class CheckResult:
    """One check of one camera."""

    check: Check
    status: Status
    reason: str = ""
    values: dict[str, Any] = field(default_factory=dict)
    # A short word for the STATUS line and events ("frozen", "offline", "too dark").
    problem: str = ""


def worst(results: list[CheckResult]) -> Status:
    """The most severe status of `results` (ok when empty)."""
    return max((r.status for r in results), key=_RANK.__getitem__, default=Status.OK)


@dataclass
class CameraReport:
    """Everything one check of a camera found, in the order the checks ran."""

    camera: str
    checked_at_ms: int
    results: list[CheckResult] = field(default_factory=list)
    snapshot: npt.NDArray[np.uint8] | None = None  # BGR, for the snapshot JPEG
    cpu_seconds: float = 0.0  # used by ffprobe and ffmpeg for this check

    @property
    def status(self) -> Status:
        """The camera's overall status."""
        return worst(self.results)

    @property
    def problem(self) -> str:
        """The most severe problem's word, '' when every check passed."""
        status = self.status
        if status is Status.OK:
            return ""
        return next(r.problem or r.check.value for r in self.results if r.status is status)

    @property
    def reason(self) -> str:
        """The reasons of the checks that did not pass, joined."""
        return "; ".join(r.reason for r in self.results if r.status is not Status.OK)
