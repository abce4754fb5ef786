"""The nvr-hddmon daemon: its tick runs the named steps of docs/design/disk.md.

Order within a tick: is the disk there, is it healthy, is there enough space (retention,
then the space rules), then a chunk of reconcile and, hourly, SMART.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from nvr.core.config import Config
from nvr.core.service import Daemon, Lifecycle
from nvr.core.state import StateStore, now_ms
from nvr.core.statebackup import StateBackupError
from nvr.core.tables.events import Severity, record_event
from nvr.hddmon import health
from nvr.hddmon.alerts import Alerts
from nvr.hddmon.constants import (
    DELETE_BUDGET_SECONDS,
    HEALTH_INTERVAL_SECONDS,
    MIN_GROWTH_SPAN_S,
    MS_PER_HOUR,
    ORPHAN_DELETE_AFTER_SECONDS,
    ORPHAN_MIN_SEGMENTS,
    PROBE_SLOW_MS,
    RATE_MIN_SPAN_MS,
    RATE_WINDOW_MS,
    RECONCILE_FOLDERS_PER_TICK,
    RECONCILE_INTERVAL_SECONDS,
    RECONCILE_ROWS_PER_TICK,
    SMART_INTERVAL_SECONDS,
    SOURCE,
    TICK_SECONDS,
)
from nvr.hddmon.index import indexed_cameras, write_rates
from nvr.hddmon.janitor import Janitor, PassResult
from nvr.hddmon.policy import (
    SpaceNeed,
    reaches_high_watermark,
    retention_cutoffs,
    space_need,
)
from nvr.hddmon.reconcile import Reconciler, ReconcileReport
from nvr.hddmon.smart import Runner, SmartReport, read_smart, run_command, smart_problems
from nvr.hddmon.statebackup import FAILED_KIND, StateBackupJob
from nvr.hddmon.usage import DiskUsage, UsageFn, disk_usage, format_bytes, same_filesystem

log = logging.getLogger(__name__)

DELETED_KIND = "disk_segments_deleted"


class HddmonDaemon(Daemon):
    """Keeps the recordings disk from filling up and reports when it is dying."""

    name = SOURCE
    tick_seconds = TICK_SECONDS

    def __init__(
        self,
        config: Config,
        store: StateStore,
        stop_event: threading.Event,
        *,
        clock_ms: Callable[[], int] = now_ms,
        monotonic: Callable[[], float] = time.monotonic,
        usage_fn: UsageFn = disk_usage,
        smart_runner: Runner = run_command,
    ) -> None:
        super().__init__(config, store, stop_event)
        self._clock_ms = clock_ms
        self._monotonic = monotonic
        self._usage_fn = usage_fn
        self._smart_runner = smart_runner
        self.alerts = Alerts(store)
        self.usage: DiskUsage | None = None
        self.rate_bytes_per_s = 0.0
        self.growth_bytes_per_s = 0.0
        self._last_used: tuple[float, int] | None = None
        self.under_pressure = False
        self.busy = False
        self.deleted_today = 0
        self._today = ""
        self.smart: dict[str, SmartReport] = {}
        self.probe: health.ProbeResult | None = None
        self._due = {"space": 0.0, "reconcile": 0.0, "health": 0.0, "smart": 0.0}
        self.state_backup = StateBackupJob()
        self._build_workers()

    def _build_workers(self) -> None:
        root = self.config.storage.recordings_dir
        self.janitor = Janitor(self.store, root, self._clock_ms, self._monotonic)
        orphan_age_s = max(
            ORPHAN_DELETE_AFTER_SECONDS,
            ORPHAN_MIN_SEGMENTS * self.config.recording.segment_seconds,
        )
        self.reconciler = Reconciler(
            self.store, self.janitor, root, self._clock_ms, orphan_age_s * 1000
        )

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> None:
        """Finish deletions a crash interrupted, then schedule a full reconcile."""
        self._load_deleted_today()
        if self._disk_ready():
            self._report(self.janitor.finish_garbage("leftover"))
            self._measure()  # so that READY=1 already carries the real usage
            self.reconciler.begin()

    def apply_config(self, new: Config) -> None:
        """Swap the config; a moved recordings_dir gets fresh workers."""
        moved = new.storage.recordings_dir != self.config.storage.recordings_dir
        super().apply_config(new)
        if moved:
            log.info("recordings_dir is now %s", new.storage.recordings_dir)
            self._build_workers()
            self._due["reconcile"] = 0.0

    def tick(self) -> None:
        """One pass: the disk's presence and health, space, reconcile, SMART."""
        now = self._monotonic()
        if self._disk_ready():
            if now >= self._due["health"]:
                self._due["health"] = now + HEALTH_INTERVAL_SECONDS
                self._check_health()
            if self.busy or now >= self._due["space"]:
                self._due["space"] = now + self.config.disk.check_interval_seconds
                self._check_space()
            self._reconcile_step(now)
            self._state_backup_step()
        if now >= self._due["smart"]:
            self._due["smart"] = now + SMART_INTERVAL_SECONDS
            self._check_smart()
        critical = self.alerts.active(Severity.CRITICAL)
        self.lifecycle = Lifecycle.DEGRADED if critical else Lifecycle.RUNNING

    # -- is the disk there ---------------------------------------------------------

    def _disk_ready(self) -> bool:
        """False (with a critical event, once) when the recordings disk is not there."""
        root = self.config.storage.recordings_dir
        problem = ""
        if not root.is_dir():
            problem = f"recordings_dir {root} does not exist"
        elif self.config.storage.require_mount and not health.is_mount_point(root):
            problem = f"recordings disk not mounted at {root}"
        if problem:
            self.alerts.raise_(
                "not_mounted",
                Severity.CRITICAL,
                "disk_not_mounted",
                f"{problem}: janitor paused, nothing is deleted or marked missing",
                short=problem,
            )
            return False
        self.alerts.clear("not_mounted", "disk_mounted", f"recordings disk back at {root}")
        return True

    # -- space -------------------------------------------------------------------

    def _check_space(self) -> None:
        """Retention first, then whatever the space rules still ask for."""
        deadline = self._monotonic() + DELETE_BUDGET_SECONDS
        self._report(self.janitor.finish_garbage("retry"))
        conn = self.store.read()
        cutoffs = retention_cutoffs(self.config, indexed_cameras(conn), self._clock_ms())
        retention = self.janitor.apply_retention(cutoffs, deadline)
        self._report(retention)
        usage = self._measure()
        self._watermark_crossing(usage)
        need = self._need(usage)
        freed: PassResult | None = None
        if need.total > 0 and not retention.out_of_time:
            freed = self.janitor.free_space(need.total, need.reason, deadline)
            self._report(freed)
            usage = self._measure()
            self._watermark_crossing(usage)
            need = self._need(usage)
        self._space_alerts(usage, need, freed)
        self.busy = retention.out_of_time or (freed is not None and freed.out_of_time)

    def _measure(self) -> DiskUsage:
        root = self.config.storage.recordings_dir
        self.usage = self._usage_fn(root)
        rates = write_rates(self.store.read(), self._clock_ms(), RATE_WINDOW_MS, RATE_MIN_SPAN_MS)
        self.rate_bytes_per_s = sum(rates.values())
        self._measure_growth(self.usage)
        return self.usage

    def _measure_growth(self, usage: DiskUsage) -> None:
        """How fast the disk filled since the last look (after the last deletion).

        The index's rate is an hour's average of closed segments; what the watermark
        look-ahead needs is what is being written right now, cameras back from an outage
        and segments still open included.
        """
        now = self._monotonic()
        if self._last_used is not None and now - self._last_used[0] >= MIN_GROWTH_SPAN_S:
            then, used = self._last_used
            self.growth_bytes_per_s = max(0.0, (usage.used - used) / (now - then))
        self._last_used = (now, usage.used)

    def _need(self, usage: DiskUsage) -> SpaceNeed:
        storage = self.config.storage
        return space_need(
            usage,
            self.config,
            self.rate_bytes_per_s,
            self.growth_bytes_per_s,
            under_pressure=self.under_pressure,
            state_on_recordings_fs=same_filesystem(
                storage.state_file.parent, storage.recordings_dir
            ),
        )

    def _watermark_crossing(self, usage: DiskUsage) -> None:
        """Log and record each crossing of the high (upwards) and low (downwards) watermark."""
        disk = self.config.disk
        used = f"{usage.percent:.1f}% ({format_bytes(usage.used)} used, "
        used += f"{format_bytes(usage.free)} free)"
        data = {"percent": round(usage.percent, 2), "used": usage.used, "free": usage.free}
        writing = max(self.rate_bytes_per_s, self.growth_bytes_per_s)
        if not self.under_pressure and reaches_high_watermark(usage, self.config, writing):
            self.under_pressure = True
            verb = (
                "reached" if usage.percent >= disk.high_watermark_percent else "is about to reach"
            )
            message = (
                f"disk {used} {verb} the high watermark {disk.high_watermark_percent:g}%: "
                f"deleting the oldest segments down to {disk.low_watermark_percent:g}%"
            )
            self._event(Severity.WARNING, "disk_high_watermark", message, data)
        elif self.under_pressure and usage.percent <= disk.low_watermark_percent:
            self.under_pressure = False
            message = f"disk {used} is below the low watermark {disk.low_watermark_percent:g}%"
            self._event(Severity.INFO, "disk_low_watermark", message, data)

    def _space_alerts(self, usage: DiskUsage, need: SpaceNeed, freed: PassResult | None) -> None:
        """Conditions deleting could not fix: only protected video left, too little headroom."""
        disk = self.config.disk
        stuck = freed is not None and freed.exhausted
        if stuck and usage.percent >= disk.high_watermark_percent:
            assert freed is not None
            self.alerts.raise_(
                "only_protected",
                Severity.CRITICAL,
                "disk_only_protected_left",
                f"disk {usage.percent:.1f}% is above the high watermark and nothing deletable "
                f"is left: {freed.protected_skipped} protected segments kept; release "
                "protections or add disk space",
                short="only protected video left",
                data={"percent": round(usage.percent, 2), "protected": freed.protected_skipped},
            )
        elif usage.percent < disk.high_watermark_percent:
            self.alerts.clear(
                "only_protected", "disk_space_recovered", f"disk {usage.percent:.1f}% again"
            )
        self._headroom_alert(usage, need)
        self._state_reserve_alert()

    def _headroom_alert(self, usage: DiskUsage, need: SpaceNeed) -> None:
        if need.headroom > 0:
            self.alerts.raise_(
                "headroom",
                Severity.WARNING,
                "disk_headroom_low",
                f"free space {format_bytes(usage.free)} covers less than "
                f"{self.config.disk.headroom_hours:g} h at "
                f"{format_bytes(self.rate_bytes_per_s)}/s and nothing more can be deleted",
                short="headroom low",
            )
        else:
            self.alerts.clear("headroom", "disk_headroom_ok", "headroom restored")

    def _state_reserve_alert(self) -> None:
        """The state file's filesystem needs its reserve even when it is not ours to clean."""
        state_dir = self.config.storage.state_file.parent
        free = self._usage_fn(state_dir).free
        reserve = self.config.disk.state_min_free_mb * 1_000_000
        if free < reserve:
            self.alerts.raise_(
                "state_reserve",
                Severity.CRITICAL,
                "disk_state_reserve_low",
                f"filesystem of the state file {state_dir} has {format_bytes(free)} free, "
                f"below the {self.config.disk.state_min_free_mb} MB reserve",
                short="state file disk full",
            )
        else:
            self.alerts.clear("state_reserve", "disk_state_reserve_ok", "state file disk ok")

    def _report(self, result: PassResult) -> None:
        """Summarise a pass in one log line and one event (each file had its own line)."""
        if result.count == 0:
            return
        self._count_today(result.count)
        self._event(Severity.INFO, DELETED_KIND, result.summary(), result.event_data())

    def _event(self, severity: Severity, kind: str, message: str, data: dict[str, Any]) -> None:
        record_event(
            self.store, source=SOURCE, severity=severity, kind=kind, message=message, data=data
        )

    def _count_today(self, count: int) -> None:
        today = datetime.fromtimestamp(self._clock_ms() / 1000, UTC).strftime("%Y-%m-%d")
        if today != self._today:
            self._today, self.deleted_today = today, 0
        self.deleted_today += count

    def _load_deleted_today(self) -> None:
        """Count today's deletions from the events, so a restart does not reset the STATUS."""
        now = datetime.fromtimestamp(self._clock_ms() / 1000, UTC)
        self._today = now.strftime("%Y-%m-%d")
        midnight_ms = int(now.replace(hour=0, minute=0, second=0, microsecond=0).timestamp() * 1000)
        rows = self.store.read().execute(
            "SELECT data_json FROM events WHERE source = ? AND kind = ? AND created_at_ms >= ?",
            (SOURCE, DELETED_KIND, midnight_ms),
        )
        self.deleted_today = sum(int(json.loads(row[0]).get("count", 0)) for row in rows)

    # -- reconcile ---------------------------------------------------------------

    def _reconcile_step(self, now: float) -> None:
        if not self.reconciler.active:
            if now < self._due["reconcile"]:
                return
            self.reconciler.begin()
        if self.reconciler.step(RECONCILE_ROWS_PER_TICK, RECONCILE_FOLDERS_PER_TICK):
            self._due["reconcile"] = now + RECONCILE_INTERVAL_SECONDS
            self._report_reconcile(self.reconciler.report)

    def _state_backup_step(self) -> None:
        """The daily copy of the state file; a failure is a warning event, once per try."""
        outcome = self.state_backup.step(self.config)
        if isinstance(outcome, StateBackupError):
            self._event(Severity.WARNING, FAILED_KIND, str(outcome), {})

    def _report_reconcile(self, report: ReconcileReport) -> None:
        if report.repaired_anything:
            self._event(Severity.WARNING, "disk_reconcile", report.summary(), report.event_data())
        else:
            log.info("%s (%d rows checked)", report.summary(), report.rows_checked)

    # -- health ------------------------------------------------------------------

    def _check_health(self) -> None:
        """Read-only filesystem and the write probe."""
        root = self.config.storage.recordings_dir
        if health.is_read_only(root):
            self.alerts.raise_(
                "read_only",
                Severity.CRITICAL,
                "disk_read_only",
                f"recordings filesystem at {root} is read-only: recording has stopped "
                "(ext4 remounts read-only after I/O errors; see dmesg)",
                short="disk read-only",
            )
            return
        self.alerts.clear("read_only", "disk_writable", f"recordings filesystem {root} writable")
        self.probe = health.probe_write(root)
        self._probe_alerts(self.probe)

    def _probe_alerts(self, probe: health.ProbeResult) -> None:
        root = self.config.storage.recordings_dir
        if not probe.ok:
            self.alerts.raise_(
                "write",
                Severity.CRITICAL,
                "disk_write_failed",
                f"cannot write to {root}: {probe.error}",
                short="disk write failed",
            )
        elif probe.latency_ms > PROBE_SLOW_MS:
            self.alerts.raise_(
                "write",
                Severity.WARNING,
                "disk_write_slow",
                f"a 4 KiB write + fsync on {root} took {probe.latency_ms:.0f} ms "
                "(disk retrying sectors or overloaded)",
                short="disk slow",
            )
        else:
            self.alerts.clear("write", "disk_write_ok", f"writes to {root} are fine again")

    def _check_smart(self) -> None:
        for device in self.config.disk.smart_devices:
            report = read_smart(device, self._smart_runner)
            self.smart[device] = report
            if not report.available:
                self.alerts.raise_(
                    f"smart_unavailable:{device}",
                    Severity.INFO,
                    "disk_smart_unavailable",
                    f"SMART unavailable for {device}: {report.message}",
                )
                continue
            self._smart_alerts(report)

    def _smart_alerts(self, report: SmartReport) -> None:
        found = {problem.key: problem for problem in smart_problems(report)}
        for key in ("failing", "nvme_warning", "sectors", "temperature"):
            alert_key = f"smart:{report.device}:{key}"
            problem = found.get(key)
            if problem is None:
                self.alerts.clear(alert_key, "disk_smart_ok", f"SMART {report.device}: {key} ok")
                continue
            self.alerts.raise_(
                alert_key,
                problem.severity,
                f"disk_smart_{key}",
                problem.message,
                short=f"SMART {report.device} {key}",
                data=report.as_dict(),
                refresh=True,
            )

    # -- reporting ---------------------------------------------------------------

    def status_line(self) -> str:
        """`disk 87% (1.2 TB free, ~31 h headroom); deleted 42 segments today`."""
        if self.usage is None:
            text = "disk not measured yet"
        else:
            text = f"disk {self.usage.percent:.0f}% ({format_bytes(self.usage.free)} free, "
            text += f"{self._headroom_text()})"
        text += f"; deleted {self.deleted_today} segments today"
        for _, _, short in self.alerts.active(Severity.WARNING):
            text += f"; {short}"
        return text

    def _headroom_text(self) -> str:
        if self.usage is None or self.rate_bytes_per_s <= 0:
            return "no writes in the last hour"
        hours = self.usage.free / self.rate_bytes_per_s / (MS_PER_HOUR / 1000)
        return f"~{hours:.0f} h headroom"

    def heartbeat_detail(self) -> dict[str, Any]:
        """Numbers for nvr-health: usage, rate, deletions, SMART, probe, active alerts."""
        detail: dict[str, Any] = {
            "deleted_today": self.deleted_today,
            "under_pressure": self.under_pressure,
            "rate_bytes_per_s": round(self.rate_bytes_per_s, 1),
            "db_seconds": round(self.janitor.db_seconds, 3),
            "smart": {device: report.as_dict() for device, report in self.smart.items()},
            "alerts": [message for _, message, _ in self.alerts.active(Severity.INFO)],
            "state_backup": self.state_backup.detail(),
        }
        if self.usage is not None:
            detail.update(
                percent=round(self.usage.percent, 2),
                free_bytes=self.usage.free,
                total_bytes=self.usage.total,
            )
        if self.probe is not None:
            detail["probe_ms"] = round(self.probe.latency_ms, 2)
        return detail
