"""One check of one camera: reachable, stream properties, picture. Named steps.

Each step adds its CheckResult to the report; a failed step ends the check, because the
following ones cannot run (no picture from an unreachable camera). A camera being recorded
is checked from its last segment, one nobody records over RTSP (see source.py).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from nvr.core.config import CameraConfig
from nvr.core.rtsp import ProbeAnswer, ProbeResult
from nvr.core.rtsp import probe as rtsp_probe
from nvr.core.state import now_ms
from nvr.validator import constants as c
from nvr.validator.errors import ToolTimedOut, ValidatorError
from nvr.validator.media import (
    Frame,
    Runner,
    Sample,
    StreamInfo,
    analysis_size,
    grab_command,
    parse_probe,
    probe_command,
    split_frames,
)
from nvr.validator.picture import Baseline, FrameStats, Mode, analyse, measure, run_needed
from nvr.validator.results import CameraReport, Check, CheckResult, Status
from nvr.validator.segment import Part, read_segment
from nvr.validator.source import Source, SourceKind

log = logging.getLogger(__name__)

Prober = Callable[..., ProbeAnswer]
# The problem word of a check the box could not finish (not the camera's fault).
BUSY = "box busy"

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
    retry: bool = False  # the box could not finish the check: try again soon


def check_reachable(camera: CameraConfig, tools: Tools, timeout: float) -> CheckResult:
    """Step 1: one RTSP DESCRIBE tells offline, auth failed and not found apart."""
    answer = tools.prober(camera.url, min(timeout, 5.0))
    values = {"url": camera.url.redacted, "answer": str(answer.result), "detail": answer.detail}
    if answer.result is ProbeResult.OK:
        return CheckResult(Check.REACHABLE, Status.OK, "", values)
    reason = f"{answer.result}: {_ADVICE[answer.result]} ({camera.url.redacted})"
    return CheckResult(Check.REACHABLE, Status.FAIL, reason, values, _PROBLEM[answer.result])


def recording_reachable(camera: CameraConfig, source: Source, now: int) -> CheckResult:
    """Step 1 for a camera being recorded: its fresh segment proves it reachable.

    No RTSP session of ours: a single-session camera is busy with the recorder, and
    "camera offline" must never be said of a camera that is recording (invariant 7).
    """
    values = {
        "url": camera.url.redacted,
        "source": str(source.kind),
        "segment": str(source.path),
        "segment_age_seconds": round(max(0, now - source.segment_end_ms) / 1000, 1),
    }
    return CheckResult(Check.REACHABLE, Status.OK, "", values)


def compare_stream(camera: CameraConfig, info: StreamInfo) -> CheckResult:
    """Step 2b: the stream against `expect`; every difference is reported, none enforced."""
    expect = camera.expect
    values = {
        "codec": info.codec,
        "width": info.width,
        "height": info.height,
        "fps": info.fps,
        "bitrate": info.bitrate,
    }
    wrong = []
    if expect.codec and info.codec.lower() != expect.codec.lower():
        # Recordings are stream copies and play whatever the codec: a typo in expect.codec
        # or a changed encoder setting, said as such, not as unplayable video.
        wrong.append(f"codec is {info.codec}, expected {expect.codec} (cameras[].expect.codec)")
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
        reason = "; ".join(wrong) + ": camera settings changed, camera replaced, or expect wrong"
        return CheckResult(Check.STREAM, Status.WARN, reason, values, "wrong settings")
    return CheckResult(Check.STREAM, Status.OK, "", values)


def box_busy() -> str | None:
    """`load 3.4 on 2 cores` when runnable work outnumbers the cores, else None."""
    cores = os.cpu_count() or 1
    load = os.getloadavg()[0]
    if load / cores >= c.BUSY_LOAD_PER_CORE:
        return f"load {load:.1f} on {cores} cores"
    return None


def unfinished(step: str, err: ValidatorError, source: Source) -> CheckResult:
    """A tool that could not read the stream or the segment: whose fault it is, in words.

    A timeout while the box is overloaded, or on a local segment file, is the box's
    trouble, not the camera's: a warning and another try soon, never a failure
    (docs/design/validation.md, invariant 9).
    """
    busy = box_busy()
    if isinstance(err, ToolTimedOut) and (busy or source.kind is SourceKind.RECORDING):
        why = busy or f"reading the recording took too long: {err}"
        reason = (
            f"validator could not finish: box busy ({why});"
            f" checking again in {c.RECHECK_SECONDS:.0f} s"
        )
        return CheckResult(Check.STREAM, Status.WARN, reason, {}, BUSY)
    if source.kind is SourceKind.RECORDING:
        reason = f"could not read the last recorded segment {source.path}: {err}"
        return CheckResult(Check.STREAM, Status.WARN, reason, {}, "segment unreadable")
    return CheckResult(Check.STREAM, Status.FAIL, f"{step}: {err}", {}, "no stream")


def check_stream(
    camera: CameraConfig, tools: Tools, source: Source, timeout: float
) -> tuple[CheckResult, StreamInfo | None]:
    """Step 2: ffprobe the camera's stream; compare it with what the config expects."""
    argv = probe_command(tools.ffprobe, source.input_of(camera.url), source.transport)
    try:
        info = parse_probe(tools.runner(argv, timeout))
    except ValidatorError as err:
        return unfinished("cannot read the stream", err, source), None
    return compare_stream(camera, info), info


def grab_picture(
    camera: CameraConfig, tools: Tools, source: Source, info: StreamInfo, settings: Settings
) -> list[Frame]:
    """Step 3a from the camera: ffmpeg decodes a few frames (keyframes only by default)."""
    size = analysis_size(info.width, info.height)
    argv = grab_command(
        tools.ffmpeg,
        source.input_of(camera.url),
        size,
        settings.sample_seconds,
        settings.keyframes_only,
        transport=source.transport,
    )
    return split_frames(tools.runner(argv, settings.timeout), size)


def judge_picture(
    camera: CameraConfig,
    sample: Sample,
    settings: Settings,
    baselines: Mapping[Mode, Baseline],
    report: CameraReport,
    measured: FrameStats | None = None,
) -> FrameStats:
    """Step 3b: the picture checks on decoded frames; keeps the newest as the snapshot."""
    report.snapshot = sample.frames[-1]
    results, stats = analyse(
        sample.frames,
        baselines,
        camera.expect.ignore_regions,
        settings.sample_seconds,
        run=sample.run,
        stats=measured,
    )
    report.results.extend(results)
    return stats


def check_live(
    camera: CameraConfig,
    tools: Tools,
    settings: Settings,
    source: Source,
    report: CameraReport,
) -> Sample | None:
    """A camera nobody records: DESCRIBE, ffprobe and ffmpeg over RTSP; None: a step failed."""
    report.results.append(check_reachable(camera, tools, settings.timeout))
    if report.results[-1].status is Status.FAIL:
        return None
    stream, info = check_stream(camera, tools, source, settings.timeout)
    report.results.append(stream)
    if info is None:
        return None
    try:
        return Sample(grab_picture(camera, tools, source, info, settings))
    except ValidatorError as err:
        report.results.append(unfinished("no picture decoded", err, source))
        return None


def check_recorded(
    camera: CameraConfig,
    settings: Settings,
    source: Source,
    baselines: Mapping[Mode, Baseline],
    report: CameraReport,
) -> tuple[Sample | None, FrameStats | None]:
    """A camera being recorded: its last segment, read in-process; no camera session.

    Keyframes first; the GOP of the run is decoded only when it could change the check
    (invariant 16). With the sample, its stats when already measured (no run).
    """
    report.results.append(recording_reachable(camera, source, report.checked_at_ms))
    assert source.path is not None
    read = (source.path, settings.sample_seconds, settings.keyframes_only, settings.timeout)
    # A camera still learning every mode needs the run anyway: one read, not two.
    keyframes_first = settings.keyframes_only and any(
        b.samples >= c.BASELINE_SAMPLES for b in baselines.values()
    )
    measured = None
    try:
        info, sample = read_segment(*read, Part.KEYFRAMES if keyframes_first else Part.WHOLE)
        if keyframes_first:
            measured = measure(sample.frames, camera.expect.ignore_regions)
            if run_needed(measured, baselines, len(sample.frames)):
                _, with_run = read_segment(*read, Part.RUN)
                sample, measured = Sample(sample.frames, with_run.run), None
    except ValidatorError as err:
        report.results.append(unfinished("cannot read the recording", err, source))
        return None, None
    report.results.append(compare_stream(camera, info))
    return sample, measured


def check_camera(
    camera: CameraConfig,
    tools: Tools,
    settings: Settings,
    baselines: Mapping[Mode, Baseline],
    source: Source,
) -> Outcome:
    """Run the steps in order for one camera; never raises for a camera's fault."""
    outcome = Outcome(CameraReport(camera.id, now_ms()))
    measured = None
    if source.kind is SourceKind.RECORDING:
        sample, measured = check_recorded(camera, settings, source, baselines, outcome.report)
    else:
        sample = check_live(camera, tools, settings, source, outcome.report)
    if sample is not None:
        outcome.stats = judge_picture(camera, sample, settings, baselines, outcome.report, measured)
    outcome.retry = any(r.problem == BUSY for r in outcome.report.results)
    log.debug("camera=%s checked from %s: %s", camera.id, source.kind, outcome.report.status)
    return outcome
