"""SMART health through `smartctl -j`, for the devices listed in disk.smart_devices.

"SMART unavailable" (no smartctl, a virtual disk, a USB bridge that hides SMART) is a
state to report once, not an error. Parsing is checked against real smartctl output in
tests/hddmon/fixtures.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from nvr.core.process import run_command
from nvr.core.tables.events import Severity
from nvr.hddmon.constants import SMART_TEMPERATURE_WARN_C, SMART_TIMEOUT_SECONDS
from nvr.hddmon.errors import SmartError

# ATA attribute ids (the same on every vendor's drives).
ATA_REALLOCATED = 5
ATA_PENDING = 197

# Runs argv and returns its stdout (tests pass recorded answers).
Runner = Callable[[Sequence[str]], str]


def run_smartctl(argv: Sequence[str]) -> str:
    """Smartctl's answer whatever its exit status: the status bits repeat what the JSON says."""
    return run_command(argv, SMART_TIMEOUT_SECONDS, check=False)


@dataclass(frozen=True)
class SmartReport:
    """The few SMART facts that predict a dying disk, for one device."""

    device: str
    available: bool
    message: str = ""
    model: str = ""
    passed: bool | None = None
    reallocated: int | None = None
    pending: int | None = None
    temperature_c: int | None = None
    power_on_hours: int | None = None
    media_errors: int | None = None
    critical_warning: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """For the heartbeat detail."""
        return {key: value for key, value in self.__dict__.items() if value is not None}


@dataclass(frozen=True)
class SmartProblem:
    """A finding worth an event."""

    key: str
    severity: Severity
    message: str


def _raw_count(attribute: dict[str, Any]) -> int:
    """An attribute's count: the leading number of raw.string (raw.value may pack fields)."""
    raw = attribute.get("raw", {})
    match = re.match(r"\s*(\d+)", str(raw.get("string", "")))
    return int(match.group(1)) if match else int(raw.get("value", 0))


def _ata_counts(data: dict[str, Any]) -> tuple[int | None, int | None]:
    table = data.get("ata_smart_attributes", {}).get("table", [])
    by_id = {attr.get("id"): attr for attr in table}
    reallocated = _raw_count(by_id[ATA_REALLOCATED]) if ATA_REALLOCATED in by_id else None
    pending = _raw_count(by_id[ATA_PENDING]) if ATA_PENDING in by_id else None
    return reallocated, pending


def _unavailable_reason(data: dict[str, Any]) -> str:
    messages = data.get("smartctl", {}).get("messages", [])
    texts = [str(m.get("string", "")) for m in messages if m.get("string")]
    return "; ".join(texts) or "no SMART data in smartctl's answer"


def parse_smartctl(device: str, text: str) -> SmartReport:
    """Read `smartctl -j -H -A` (or `-a`) output; raises SmartError when it is not JSON."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise SmartError(f"smartctl {device}: answer is not JSON: {err.msg}") from err
    if not isinstance(data, dict):
        raise SmartError(f"smartctl {device}: answer is not a JSON object")
    status = data.get("smart_status")
    if not isinstance(status, dict) or "passed" not in status:
        return SmartReport(device=device, available=False, message=_unavailable_reason(data))
    reallocated, pending = _ata_counts(data)
    nvme = data.get("nvme_smart_health_information_log", {})
    return SmartReport(
        device=device,
        available=True,
        model=str(data.get("model_name", "")),
        passed=bool(status["passed"]),
        reallocated=reallocated,
        pending=pending,
        temperature_c=data.get("temperature", {}).get("current"),
        power_on_hours=data.get("power_on_time", {}).get("hours"),
        media_errors=nvme.get("media_errors"),
        critical_warning=nvme.get("critical_warning"),
    )


def read_smart(device: str, runner: Runner = run_smartctl) -> SmartReport:
    """Ask smartctl about `device`; never raises for a missing tool or an odd answer."""
    try:
        return parse_smartctl(device, runner(["smartctl", "-j", "-H", "-A", device]))
    except FileNotFoundError:
        return SmartReport(device=device, available=False, message="smartctl not installed")
    except subprocess.TimeoutExpired:
        return SmartReport(device=device, available=False, message="smartctl timed out")
    except (OSError, SmartError) as err:
        return SmartReport(device=device, available=False, message=str(err))


def smart_problems(report: SmartReport) -> list[SmartProblem]:
    """What in a report deserves an event; empty for a healthy or unavailable disk."""
    name = f"{report.device} ({report.model})" if report.model else report.device
    problems: list[SmartProblem] = []
    if report.passed is False:
        problems.append(
            SmartProblem(
                "failing",
                Severity.CRITICAL,
                f"SMART {name}: overall health FAILED, replace the disk and copy evidence off it",
            )
        )
    if report.critical_warning:
        problems.append(
            SmartProblem(
                "nvme_warning",
                Severity.CRITICAL,
                f"SMART {name}: NVMe critical warning 0x{report.critical_warning:02x}",
            )
        )
    sectors = (report.reallocated or 0) + (report.pending or 0) + (report.media_errors or 0)
    if sectors:
        problems.append(
            SmartProblem(
                "sectors",
                Severity.WARNING,
                f"SMART {name}: {report.reallocated or 0} reallocated, {report.pending or 0} "
                f"pending sectors, {report.media_errors or 0} media errors: "
                "the disk is wearing out",
            )
        )
    if report.temperature_c is not None and report.temperature_c >= SMART_TEMPERATURE_WARN_C:
        problems.append(
            SmartProblem(
                "temperature",
                Severity.WARNING,
                f"SMART {name}: {report.temperature_c} C, check the enclosure's airflow",
            )
        )
    return problems
