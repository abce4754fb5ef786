"""Which disk conditions nvr-hddmon announces, and with what words (docs/design/disk.md).

The daemon measures (usage, the write probe, SMART) and hands each result here; every
function raises or clears its conditions through Alerts, which records an event only when
a condition begins or ends. The watermark crossings are events without a condition: the
daemon keeps `under_pressure`, which the space rules read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nvr.core.config import Config
from nvr.core.state import StateStore
from nvr.core.tables.events import Severity, record_event
from nvr.hddmon.alerts import Alerts
from nvr.hddmon.constants import PROBE_SLOW_MS, SOURCE
from nvr.hddmon.health import ProbeResult
from nvr.hddmon.janitor import PassResult
from nvr.hddmon.policy import SpaceNeed, reaches_high_watermark
from nvr.hddmon.smart import SmartReport, smart_problems
from nvr.hddmon.usage import DiskUsage, format_bytes

SMART_CONDITIONS = ("failing", "nvme_warning", "sectors", "temperature")


def record(
    store: StateStore, severity: Severity, kind: str, message: str, data: dict[str, Any]
) -> None:
    """One event of nvr-hddmon's (a deletion pass, a crossing, a failed backup)."""
    record_event(store, source=SOURCE, severity=severity, kind=kind, message=message, data=data)


def disk_presence(alerts: Alerts, root: Path, problem: str) -> None:
    """`problem` (empty when the disk is there): recordings_dir missing or not mounted."""
    if problem:
        alerts.raise_(
            "not_mounted",
            Severity.CRITICAL,
            "disk_not_mounted",
            f"{problem}: janitor paused, nothing is deleted or marked missing",
            short=problem,
        )
    else:
        alerts.clear("not_mounted", "disk_mounted", f"recordings disk back at {root}")


def watermark_crossing(
    store: StateStore, config: Config, usage: DiskUsage, writing: float, under_pressure: bool
) -> bool:
    """Record a crossing of the high (upwards) or low (downwards) watermark; the new pressure.

    `writing` is the write rate in bytes/s that the look-ahead of the high watermark uses.
    """
    disk = config.disk
    used = f"{usage.percent:.1f}% ({format_bytes(usage.used)} used, "
    used += f"{format_bytes(usage.free)} free)"
    data = {"percent": round(usage.percent, 2), "used": usage.used, "free": usage.free}
    if not under_pressure and reaches_high_watermark(usage, config, writing):
        verb = "reached" if usage.percent >= disk.high_watermark_percent else "is about to reach"
        message = (
            f"disk {used} {verb} the high watermark {disk.high_watermark_percent:g}%: "
            f"deleting the oldest segments down to {disk.low_watermark_percent:g}%"
        )
        record(store, Severity.WARNING, "disk_high_watermark", message, data)
        return True
    if under_pressure and usage.percent <= disk.low_watermark_percent:
        message = f"disk {used} is below the low watermark {disk.low_watermark_percent:g}%"
        record(store, Severity.INFO, "disk_low_watermark", message, data)
        return False
    return under_pressure


def only_protected_left(
    alerts: Alerts, config: Config, usage: DiskUsage, freed: PassResult | None
) -> None:
    """Above the high watermark with nothing deletable left: only protected video."""
    if (
        freed is not None
        and freed.exhausted
        and usage.percent >= config.disk.high_watermark_percent
    ):
        alerts.raise_(
            "only_protected",
            Severity.CRITICAL,
            "disk_only_protected_left",
            f"disk {usage.percent:.1f}% is above the high watermark and nothing deletable "
            f"is left: {freed.protected_skipped} protected segments kept; release "
            "protections or add disk space",
            short="only protected video left",
            data={"percent": round(usage.percent, 2), "protected": freed.protected_skipped},
        )
    elif usage.percent < config.disk.high_watermark_percent:
        alerts.clear("only_protected", "disk_space_recovered", f"disk {usage.percent:.1f}% again")


def headroom(
    alerts: Alerts, config: Config, usage: DiskUsage, need: SpaceNeed, rate_bytes_per_s: float
) -> None:
    """Free space that covers less than the configured hours of writing."""
    if need.headroom > 0:
        alerts.raise_(
            "headroom",
            Severity.WARNING,
            "disk_headroom_low",
            f"free space {format_bytes(usage.free)} covers less than "
            f"{config.disk.headroom_hours:g} h at "
            f"{format_bytes(rate_bytes_per_s)}/s and nothing more can be deleted",
            short="headroom low",
        )
    else:
        alerts.clear("headroom", "disk_headroom_ok", "headroom restored")


def state_reserve(alerts: Alerts, config: Config, free: int) -> None:
    """The state file's filesystem (`free` bytes) needs its reserve even when not ours."""
    state_dir = config.storage.state_file.parent
    if free < config.disk.state_min_free_mb * 1_000_000:
        alerts.raise_(
            "state_reserve",
            Severity.CRITICAL,
            "disk_state_reserve_low",
            f"filesystem of the state file {state_dir} has {format_bytes(free)} free, "
            f"below the {config.disk.state_min_free_mb} MB reserve",
            short="state file disk full",
        )
    else:
        alerts.clear("state_reserve", "disk_state_reserve_ok", "state file disk ok")


def read_only(alerts: Alerts, root: Path, is_read_only: bool) -> None:
    """The recordings filesystem remounted read-only (ext4 does so after I/O errors)."""
    if is_read_only:
        alerts.raise_(
            "read_only",
            Severity.CRITICAL,
            "disk_read_only",
            f"recordings filesystem at {root} is read-only: recording has stopped "
            "(ext4 remounts read-only after I/O errors; see dmesg)",
            short="disk read-only",
        )
    else:
        alerts.clear("read_only", "disk_writable", f"recordings filesystem {root} writable")


def write_probe(alerts: Alerts, root: Path, probe: ProbeResult) -> None:
    """The small write + fsync failed, or was slow."""
    if not probe.ok:
        alerts.raise_(
            "write",
            Severity.CRITICAL,
            "disk_write_failed",
            f"cannot write to {root}: {probe.error}",
            short="disk write failed",
        )
    elif probe.latency_ms > PROBE_SLOW_MS:
        alerts.raise_(
            "write",
            Severity.WARNING,
            "disk_write_slow",
            f"a 4 KiB write + fsync on {root} took {probe.latency_ms:.0f} ms "
            "(disk retrying sectors or overloaded)",
            short="disk slow",
        )
    else:
        alerts.clear("write", "disk_write_ok", f"writes to {root} are fine again")


def smart(alerts: Alerts, device: str, report: SmartReport) -> None:
    """SMART unavailable for a device (info, once), or each of its problems raised/cleared."""
    if not report.available:
        alerts.raise_(
            f"smart_unavailable:{device}",
            Severity.INFO,
            "disk_smart_unavailable",
            f"SMART unavailable for {device}: {report.message}",
        )
        return
    found = {problem.key: problem for problem in smart_problems(report)}
    for key in SMART_CONDITIONS:
        alert_key = f"smart:{report.device}:{key}"
        problem = found.get(key)
        if problem is None:
            alerts.clear(alert_key, "disk_smart_ok", f"SMART {report.device}: {key} ok")
            continue
        alerts.raise_(
            alert_key,
            problem.severity,
            f"disk_smart_{key}",
            problem.message,
            short=f"SMART {report.device} {key}",
            data=report.as_dict(),
            refresh=True,
        )
