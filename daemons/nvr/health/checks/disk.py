"""Disk: usage against thresholds, headroom, SMART, mounted, recording blocked."""

from __future__ import annotations

from typing import Any

from nvr.health.constants import BACKUP_DAEMON, HDDMON_DAEMON
from nvr.health.facts import Facts
from nvr.health.model import CheckResult, Severity, worst

Finding = tuple[Severity, str]


def _usage(facts: Facts, detail: dict[str, Any], data: dict[str, Any]) -> list[Finding]:
    percent = detail.get("percent")
    if percent is None:
        return [(Severity.WARNING, f"disk usage unknown: {HDDMON_DAEMON} has not reported it")]
    data.update(
        percent=percent, free_bytes=detail.get("free_bytes"), total_bytes=detail.get("total_bytes")
    )
    critical = facts.config.health.disk_critical_percent
    high = facts.config.disk.high_watermark_percent
    if percent >= critical:
        return [
            (
                Severity.CRITICAL,
                f"recordings disk {percent:.1f}% full (critical at {critical:g}%): the janitor"
                " cannot free space; check protected segments and retention",
            )
        ]
    if percent >= high:
        return [(Severity.WARNING, f"recordings disk {percent:.1f}% full (above {high:g}%)")]
    return []


def _headroom(facts: Facts, detail: dict[str, Any], data: dict[str, Any]) -> list[Finding]:
    rate = float(detail.get("rate_bytes_per_s") or 0)
    free = detail.get("free_bytes")
    if rate <= 0 or free is None:
        return []
    hours = free / rate / 3600
    data["headroom_hours"] = round(hours, 1)
    need = facts.config.disk.headroom_hours
    if hours < need:
        return [(Severity.WARNING, f"free space covers {hours:.1f} h of recording (< {need:g} h)")]
    return []


def _smart(detail: dict[str, Any], data: dict[str, Any]) -> list[Finding]:
    smart: dict[str, Any] = detail.get("smart", {})
    data["smart"] = {dev: report.get("passed") for dev, report in smart.items()}
    return [
        (Severity.CRITICAL, f"SMART of {dev} reports the disk failing: replace it soon")
        for dev, report in smart.items()
        if report.get("passed") is False
    ]


def _mount_and_block(facts: Facts, data: dict[str, Any]) -> list[Finding]:
    findings: list[Finding] = []
    mounted = facts.probes.mounted
    data["mounted"] = mounted
    if mounted is False:
        root = facts.config.storage.recordings_dir
        findings.append((Severity.CRITICAL, f"recordings disk not mounted at {root}"))
    blocked = facts.detail(BACKUP_DAEMON).get("blocked")
    if blocked:
        findings.append((Severity.CRITICAL, f"recording blocked: {blocked}"))
    return findings


def _state_backup(detail: dict[str, Any], data: dict[str, Any]) -> list[Finding]:
    """The daily state-file copy nvr-hddmon takes (docs/design/state.md, "Backups")."""
    backup: dict[str, Any] = detail.get("state_backup") or {}
    data["state_backup"] = backup.get("last")
    if backup.get("error"):
        return [(Severity.WARNING, f"state-file backup failed: {backup['error']}")]
    return []


class DiskCheck:
    """The recordings disk as nvr-hddmon and nvr-backup last reported it."""

    name = "disk"

    def applies(self, facts: Facts) -> str | None:
        """Always: without the disk there is no recording."""
        return None

    def run(self, facts: Facts) -> list[CheckResult]:
        """One result; every problem found is in its reason."""
        detail = facts.detail(HDDMON_DAEMON)
        data: dict[str, Any] = {}
        findings = [
            *_usage(facts, detail, data),
            *_headroom(facts, detail, data),
            *_smart(detail, data),
            *_mount_and_block(facts, data),
            *_state_backup(detail, data),
        ]
        severity = worst([s for s, _ in findings])
        return [CheckResult("disk", severity, "; ".join(t for _, t in findings), data)]
