"""One check of one camera: reachable, stream properties, picture. Named steps.

Each step adds its CheckResult to the report; a failed step ends the check, because the
following ones cannot run (no picture from an unreachable camera).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from nvr.core.config import CameraConfig
from nvr.core.rtsp import ProbeAnswer, ProbeResult
from nvr.core.rtsp import probe as rtsp_probe
from nvr.core.state import now_ms
from nvr.validator import constants as c
from nvr.validator.errors import ValidatorError
from nvr.validator.media import (
    Runner,
    StreamInfo,
    analysis_size,
    grab_command,
    parse_probe,
    probe_command,
    split_frames,
)
from nvr.validator.picture import Baseline, FrameStats, analyse
from nvr.validator.results import CameraReport, Check, CheckResult, Status

log = logging.getLogger(__name__)

Prober = Callable[..., ProbeAnswer]

_PROBLEM = {
    ProbeResult.OFFLINE: "offline",
    ProbeResult.AUTH_FAILED: "auth failed",
    ProbeResult.NOT_FOUND: "not found",
    ProbeResult.ERROR: "rtsp error",
}
_ADVICE = {
    ProbeResult.OFFLINE: "no answer on the network: power, cable or address",
    ProbeResult.AUTH_FAILED: "the camera refused the user name or password in nvr.yaml",
    ProbeResult.NOT_FOUND: "the camera answers but has no stream at this path (or no video)",
    ProbeResult.ERROR: "the camera answered with an RTSP error",
}


@dataclass(frozen=True)
class Tools:
    """What a check needs from outside: programs, a runner for them, the RTSP probe."""

    ffprobe: str
    ffmpeg: str
    runner: Runner
    prober: Prober = rtsp_probe


@dataclass(frozen=True)
class Settings:
    """The validation settings that apply to one check."""

    timeout: float
    sample_seconds: float
    keyframes_only: bool


@dataclass
class Outcome:
    """A check's report plus what the picture measured (for learning the baseline)."""

    report: CameraReport
    stats: FrameStats | None = None


def check_reachable(camera: CameraConfig, tools: Tools, timeout: float) -> CheckResult:
    """Step 1: one RTSP DESCRIBE tells offline, auth failed and not found apart."""
    answer = tools.prober(camera.url, min(timeout, 5.0))
    values = {"url": camera.url.redacted, "answer": str(answer.result), "detail": answer.detail}
    if answer.result is ProbeResult.OK:
        return CheckResult(Check.REACHABLE, Status.OK, "", values)
    reason = f"{answer.result}: {_ADVICE[answer.result]} ({camera.url.redacted})"
    return CheckResult(Check.REACHABLE, Status.FAIL, reason, values, _PROBLEM[answer.result])


def compare_stream(camera: CameraConfig, info: StreamInfo) -> CheckResult:
    """Step 2b: the stream against `expect`; a wrong codec fails, the rest warns."""
    expect = camera.expect
    values = {
        "codec": info.codec,
        "width": info.width,
        "height": info.height,
        "fps": info.fps,
        "bitrate": info.bitrate,
    }
    if expect.codec and info.codec.lower() != expect.codec.lower():
        reason = f"codec is {info.codec}, expected {expect.codec}: recordings may not play"
        return CheckResult(Check.STREAM, Status.FAIL, reason, values, "wrong codec")
    wrong = []
    if (expect.width and info.width != expect.width) or (
        expect.height and info.height != expect.height
    ):
        wrong.append(
            f"resolution is {info.width}x{info.height}, expected"
            f" {expect.width or '?'}x{expect.height or '?'}"
        )
    if expect.fps and (
        info.fps is None or abs(info.fps - expect.fps) > expect.fps * c.FPS_TOLERANCE
    ):
        wrong.append(f"frame rate is {info.fps or 'unknown'}, expected {expect.fps:g}")
    if wrong:
        reason = "; ".join(wrong) + ": camera settings changed or camera replaced"
        return CheckResult(Check.STREAM, Status.WARN, reason, values, "wrong settings")
    return CheckResult(Check.STREAM, Status.OK, "", values)


def check_stream(
    camera: CameraConfig, tools: Tools, timeout: float
) -> tuple[CheckResult, StreamInfo | None]:
    """Step 2: ffprobe the stream and compare it with what the config expects."""
    try:
        info = parse_probe(tools.runner(probe_command(tools.ffprobe, camera.url.reveal()), timeout))
    except ValidatorError as err:
        reason = f"cannot read the stream: {err}"
        result = CheckResult(Check.STREAM, Status.FAIL, reason, {}, "no stream")
        return result, None
    return compare_stream(camera, info), info


def check_picture(
    camera: CameraConfig,
    tools: Tools,
    info: StreamInfo,
    settings: Settings,
    baseline: Baseline | None,
    report: CameraReport,
) -> FrameStats | None:
    """Step 3: decode a few frames and run the picture checks; keeps a snapshot."""
    size = analysis_size(info.width, info.height)
    argv = grab_command(
        tools.ffmpeg, camera.url.reveal(), size, settings.sample_seconds, settings.keyframes_only
    )
    try:
        frames = split_frames(tools.runner(argv, settings.timeout), size)
    except ValidatorError as err:
        reason = f"no picture decoded: {err}"
        report.results.append(CheckResult(Check.BLACK, Status.FAIL, reason, {}, "no picture"))
        return None
    report.snapshot = frames[-1]
    gray = [np.asarray(cv2.cvtColor(f, cv2.COLOR_BGR2GRAY), dtype=np.uint8) for f in frames]
    results, stats = analyse(gray, baseline, camera.expect.ignore_regions, settings.sample_seconds)
    report.results.extend(results)
    return stats


def check_camera(
    camera: CameraConfig, tools: Tools, settings: Settings, baseline: Baseline | None
) -> Outcome:
    """Run the steps in order for one camera; never raises for a camera's fault."""
    report = CameraReport(camera.id, now_ms())
    outcome = Outcome(report)
    report.results.append(check_reachable(camera, tools, settings.timeout))
    if report.results[-1].status is Status.FAIL:
        return outcome
    stream, info = check_stream(camera, tools, settings.timeout)
    report.results.append(stream)
    if info is None or stream.status is Status.FAIL:
        return outcome
    outcome.stats = check_picture(camera, tools, info, settings, baseline, report)
    log.debug("camera=%s checked: %s", camera.id, report.status)
    return outcome
