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
from nvr.core.tables.events import Severity
from nvr.hddmon import conditions, health
from nvr.hddmon.alerts import Alerts
from nvr.hddmon.constants import (
    DELETE_BUDGET_SECONDS,
    HEALTH_INTERVAL_SECONDS,
    MIN_GROWTH_SPAN_S,
    MS_PER_HOUR,
    ORPHAN_DELETE_AFTER_SECONDS,
    ORPHAN_MIN_SEGMENTS,
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
from nvr.hddmon.policy import SpaceNeed, retention_cutoffs, space_need
from nvr.hddmon.reconcile import Reconciler, ReconcileReport
from nvr.hddmon.smart import Runner, SmartReport, read_smart, run_smartctl
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
        smart_runner: Runner = run_smartctl,
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
        conditions.disk_presence(self.alerts, root, problem)
        return not problem

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
        """Record each crossing of a watermark; the look-ahead uses the faster write rate."""
        writing = max(self.rate_bytes_per_s, self.growth_bytes_per_s)
        self.under_pressure = conditions.watermark_crossing(
            self.store, self.config, usage, writing, self.under_pressure
        )

    def _space_alerts(self, usage: DiskUsage, need: SpaceNeed, freed: PassResult | None) -> None:
        """Conditions deleting could not fix: only protected video left, too little headroom."""
        conditions.only_protected_left(self.alerts, self.config, usage, freed)
        conditions.headroom(self.alerts, self.config, usage, need, self.rate_bytes_per_s)
        state_free = self._usage_fn(self.config.storage.state_file.parent).free
        conditions.state_reserve(self.alerts, self.config, state_free)

    def _report(self, result: PassResult) -> None:
        """Summarise a pass in one log line and one event (each file had its own line)."""
        if result.count == 0:
            return
        self._count_today(result.count)
        conditions.record(
            self.store, Severity.INFO, DELETED_KIND, result.summary(), result.event_data()
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
            conditions.record(self.store, Severity.WARNING, FAILED_KIND, str(outcome), {})

    def _report_reconcile(self, report: ReconcileReport) -> None:
        if report.repaired_anything:
            conditions.record(
                self.store,
                Severity.WARNING,
                "disk_reconcile",
                report.summary(),
                report.event_data(),
            )
        else:
            log.info("%s (%d rows checked)", report.summary(), report.rows_checked)

    # -- health ------------------------------------------------------------------

    def _check_health(self) -> None:
        """Read-only filesystem and the write probe."""
        root = self.config.storage.recordings_dir
        read_only = health.is_read_only(root)
        conditions.read_only(self.alerts, root, read_only)
        if read_only:
            return
        self.probe = health.probe_write(root)
        conditions.write_probe(self.alerts, root, self.probe)

    def _check_smart(self) -> None:
        for device in self.config.disk.smart_devices:
            self.smart[device] = read_smart(device, self._smart_runner)
            conditions.smart(self.alerts, device, self.smart[device])

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
