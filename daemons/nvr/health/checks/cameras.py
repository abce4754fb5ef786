"""Cameras: recording (judged by the newest segment), recorder state, last validation."""

from __future__ import annotations

from typing import Any

from nvr.core.causes import cause_of
from nvr.core.config import Config
from nvr.health.checks.base import age_seconds
from nvr.health.constants import (
    BACKUP_DAEMON,
    CAMERA_STALE_SEGMENTS,
    CAMERA_STALE_SLACK_SECONDS,
    VALIDATION_STALE_FACTOR,
)
from nvr.health.facts import Facts
from nvr.health.model import CheckResult, Severity, worst


def stale_after_seconds(config: Config) -> float:
    """No new segment for this long is critical: max(floor, 2 x segment + 30 s) (Frigate)."""
    by_segment = CAMERA_STALE_SEGMENTS * config.recording.segment_seconds
    return max(config.health.camera_stale_seconds, by_segment + CAMERA_STALE_SLACK_SECONDS)


def _starting(camera: str, facts: Facts) -> bool:
    """No segment yet, and the first recording run (else nvr-backup) began within the limit.

    Asked only while the recorder names no failure: a camera whose first attempt already
    failed (camera offline, auth failed) is an outage, not a start.

    A first segment is indexed when it closes, a segment length after the run started;
    until the stale limit has passed from then, no segment is no outage.
    """
    since = facts.first_runs.get(camera)
    if since is None:
        beat = facts.heartbeats.get(BACKUP_DAEMON)
        since = beat.started_at_ms if beat is not None and beat.alive else None
    return since is not None and age_seconds(facts, since) <= stale_after_seconds(facts.config)


def _recording(camera: str, facts: Facts, data: dict[str, Any]) -> tuple[Severity, str]:
    """Judge recording by output: the newest segment's end against the stale limit."""
    segment = facts.segments.get(camera)
    recorder = facts.detail(BACKUP_DAEMON).get("cameras", {}).get(camera, {})
    state = recorder.get("state", "unknown")
    data["recorder"] = state
    cause = recorder.get("reason") or f"recorder {state}"
    if recorder.get("reason"):
        # The same word `nvrctl coverage` gives the gap this makes (nvr.core.causes).
        data["cause"] = cause_of(str(recorder["reason"]))
    if segment is None:
        if not recorder.get("reason") and _starting(camera, facts):
            # Within its first segment: nothing is on disk yet (docs/design/health.md, inv. 8).
            data["recorder"] = "starting"
            return Severity.OK, ""
        return Severity.CRITICAL, f"{camera} has no recorded segment yet ({cause})"
    age = age_seconds(facts, segment.end_ms)
    data["last_segment_age_s"] = round(age, 1)
    if age > stale_after_seconds(facts.config):
        return (
            Severity.CRITICAL,
            f"{camera}: no new segment for {age:.0f} s ({cause}): camera offline, stream"
            f" stalled or nvr-backup down; check the camera and `journalctl -u {BACKUP_DAEMON}`",
        )
    if state not in ("recording", "unknown"):
        because = f" ({recorder['reason']})" if recorder.get("reason") else ""
        return Severity.WARNING, f"{camera}: recorder {state}{because}"
    return Severity.OK, ""


def _validation(camera: str, facts: Facts, data: dict[str, Any]) -> tuple[Severity, str]:
    """The latest validation: a failed or a long-overdue check warns; recording goes on."""
    last = facts.validations.get(camera)
    if last is None:
        data["validation"] = "pending"  # a new camera is checked within an interval
        return Severity.OK, ""
    data["validation"] = last.status
    age = age_seconds(facts, last.checked_at_ms)
    data["validation_age_s"] = round(age, 1)
    if last.status == "fail":
        return Severity.WARNING, f"{camera}: validation {last.check_name} failed: {last.reason}"
    limit = VALIDATION_STALE_FACTOR * facts.config.validation.interval_seconds
    if age > limit:
        return Severity.WARNING, f"{camera}: not validated for {age:.0f} s (nvr-validator down?)"
    return Severity.OK, ""


class CamerasCheck:
    """One result per enabled camera."""

    name = "cameras"

    def applies(self, facts: Facts) -> str | None:
        """When the config has enabled cameras."""
        return None if facts.config.enabled_cameras else "no enabled camera in the config"

    def run(self, facts: Facts) -> list[CheckResult]:
        """Recording and validation of each camera, the worse of the two decides."""
        results = []
        for camera in facts.config.enabled_cameras:
            data: dict[str, Any] = {"camera_name": camera.name}
            findings = [_recording(camera.id, facts, data), _validation(camera.id, facts, data)]
            severity = worst([s for s, _ in findings])
            reason = "; ".join(text for _, text in findings if text)
            results.append(CheckResult(f"camera:{camera.id}", severity, reason, data))
        return results
