"""/metrics: the Prometheus text format, built from the same facts as /health.

Base units (seconds, bytes), `_total` on counters, labels limited to camera, daemon,
destination and end reason. Checked by `promtool check metrics` in the tests.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily
from prometheus_client.registry import Collector

from nvr import __version__
from nvr.health.checks.cameras import stale_after_seconds
from nvr.health.constants import BACKUP_DAEMON, HDDMON_DAEMON
from nvr.health.facts import Facts
from nvr.health.model import HealthReport, Overall, Severity
from nvr.health.processes import process_usage
from nvr.health.sources import Totals

Metric = GaugeMetricFamily | CounterMetricFamily | InfoMetricFamily

_DAEMON_PREFIX = "daemon:"
_OVERALL = {Overall.HEALTHY: 0, Overall.DEGRADED: 1, Overall.UNHEALTHY: 2}


def _gauge(name: str, doc: str, labels: list[str]) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, labels=labels)


def camera_metrics(facts: Facts) -> Iterator[Metric]:
    """Up, recording, last segment time and validation, per enabled camera."""
    up = _gauge("nvr_camera_up", "1 when a new segment arrived within the stale limit", ["camera"])
    recording = _gauge("nvr_camera_recording", "1 when nvr-backup's recorder records", ["camera"])
    last = _gauge(
        "nvr_camera_last_segment_end_timestamp_seconds", "End of the newest segment", ["camera"]
    )
    valid = _gauge("nvr_camera_valid", "1 unless the latest validation failed", ["camera"])
    recorders = facts.detail(BACKUP_DAEMON).get("cameras", {})
    limit_ms = stale_after_seconds(facts.config) * 1000
    for camera in facts.config.enabled_cameras:
        segment = facts.segments.get(camera.id)
        fresh = segment is not None and facts.now_ms - segment.end_ms <= limit_ms
        up.add_metric([camera.id], 1.0 if fresh else 0.0)
        state = recorders.get(camera.id, {}).get("state")
        recording.add_metric([camera.id], 1.0 if state == "recording" else 0.0)
        if segment is not None:
            last.add_metric([camera.id], segment.end_ms / 1000)
        check = facts.validations.get(camera.id)
        valid.add_metric([camera.id], 0.0 if check and check.status == "fail" else 1.0)
    yield from (up, recording, last, valid)


# Heartbeat detail key of nvr-backup's per-camera measurement -> metric name and help.
_CAMERA_HEALTH = {
    "fps": ("nvr_camera_fps", "Video frames per second recorded (last ~10 s)"),
    "bitrate_bps": ("nvr_camera_bitrate_bits_per_second", "Bitrate of the last segment"),
    "uptime_s": ("nvr_camera_uptime_seconds", "Seconds since the current run began recording"),
    "reconnects_per_hour": (
        "nvr_camera_reconnects_per_hour",
        "Recording runs that failed in the last hour",
    ),
}


def camera_health_metrics(facts: Facts) -> Iterator[Metric]:
    """What nvr-backup measured of each camera, and the fps the operator expects."""
    recorders = facts.detail(BACKUP_DAEMON).get("cameras", {})
    families = {key: _gauge(name, doc, ["camera"]) for key, (name, doc) in _CAMERA_HEALTH.items()}
    expected = _gauge("nvr_camera_expected_fps", "Frame rate set in expect.fps", ["camera"])
    for camera in facts.config.enabled_cameras:
        measured = recorders.get(camera.id, {})
        for key, family in families.items():
            if isinstance(measured.get(key), int | float):
                family.add_metric([camera.id], float(measured[key]))
        if camera.expect.fps is not None:
            expected.add_metric([camera.id], camera.expect.fps)
    yield from (*families.values(), expected)


def process_metrics(facts: Facts) -> Iterator[Metric]:
    """CPU seconds and memory of each live daemon's process tree (with its children)."""
    cpu = CounterMetricFamily(
        "nvr_daemon_cpu_seconds", "CPU time of the daemon and its children", labels=["daemon"]
    )
    memory = _gauge("nvr_daemon_memory_bytes", "Resident memory with children", ["daemon"])
    ceiling = _gauge("nvr_daemon_memory_max_bytes", "The unit's MemoryMax=", ["daemon"])
    for name, beat in sorted(facts.heartbeats.items()):
        usage = process_usage(beat.pid) if beat.alive else None
        if usage is None:
            continue
        cpu.add_metric([name], usage.cpu_seconds)
        memory.add_metric([name], usage.memory_bytes)
        if usage.memory_max_bytes is not None:
            ceiling.add_metric([name], usage.memory_max_bytes)
    yield from (cpu, memory, ceiling)


def total_metrics(totals: Totals) -> Iterator[Metric]:
    """Indexed segments and bytes (gauges: retention deletes), ffmpeg restarts (counter)."""
    segments = _gauge("nvr_camera_segments", "Segments in the index", ["camera"])
    stored = _gauge("nvr_camera_stored_bytes", "Bytes of indexed segments", ["camera"])
    for camera, (count, size) in sorted(totals.segments.items()):
        segments.add_metric([camera], count)
        stored.add_metric([camera], size)
    restarts = CounterMetricFamily(
        "nvr_ffmpeg_restarts", "Recording runs that ended, by reason", labels=["camera", "reason"]
    )
    for (camera, reason), count in sorted(totals.restarts.items()):
        restarts.add_metric([camera, reason], count)
    yield from (segments, stored, restarts)


def disk_metrics(facts: Facts) -> Iterator[Metric]:
    """Size, free bytes and headroom of the recordings disk as nvr-hddmon measured them."""
    detail = facts.detail(HDDMON_DAEMON)
    if detail.get("total_bytes") is None:
        return
    yield GaugeMetricFamily("nvr_disk_size_bytes", "Recordings disk size", detail["total_bytes"])
    yield GaugeMetricFamily("nvr_disk_free_bytes", "Recordings disk free", detail["free_bytes"])
    rate = float(detail.get("rate_bytes_per_s") or 0)
    yield GaugeMetricFamily(
        "nvr_disk_write_rate_bytes_per_second", "Measured recording write rate", rate
    )
    if rate > 0:
        yield GaugeMetricFamily(
            "nvr_disk_headroom_seconds",
            "Recording time the free space covers",
            detail["free_bytes"] / rate,
        )


def uplink_metrics(facts: Facts) -> Iterator[Metric]:
    """Queue length, age of the oldest pending report and circuit state per destination."""
    queue = _gauge("nvr_uplink_queue_reports", "Reports waiting", ["destination"])
    oldest = _gauge(
        "nvr_uplink_oldest_pending_age_seconds",
        "Age of the oldest undelivered report (delivery latency)",
        ["destination"],
    )
    circuit = _gauge(
        "nvr_uplink_circuit_open", "1 while the circuit breaker is open", ["destination"]
    )
    for dest in facts.destinations:
        queue.add_metric([dest.name], dest.backlog)
        pending = dest.oldest_pending_ms
        oldest.add_metric([dest.name], 0.0 if pending is None else (facts.now_ms - pending) / 1000)
        circuit.add_metric([dest.name], 1.0 if dest.health.startswith("circuit") else 0.0)
    yield from (queue, oldest, circuit)
    yield from outbox_metrics(facts)


def outbox_metrics(facts: Facts) -> Iterator[Metric]:
    """The outbox against its bound: the alert rule NvrOutboxFilling reads the ratio."""
    fill = facts.outbox
    yield GaugeMetricFamily("nvr_outbox_reports", "Reports in the outbox", fill.rows)
    yield GaugeMetricFamily("nvr_outbox_bytes", "Bytes of reports in the outbox", fill.bytes)
    yield GaugeMetricFamily(
        "nvr_outbox_fill_ratio",
        "Outbox fill against uplink.outbox_max_rows/_mb, 1 when full",
        fill.ratio,
    )


_SEVERITY = {Severity.OK: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}


def crash_metrics(facts: Facts, report: HealthReport) -> Iterator[Metric]:
    """Crashes within the crash-loop window and each daemon check's verdict.

    A crash its supervisor repaired shows here (and as a warning in /health) without
    paging: alert on nvr_daemon_status == 2, look at the crash count on a dashboard.
    """
    crashes = _gauge(
        "nvr_daemon_recent_crashes",
        "Crashes within health.crash_loop_window_seconds",
        ["daemon"],
    )
    for name in sorted(set(facts.heartbeats) | set(facts.crashes)):
        crashes.add_metric([name], facts.crashes.get(name, 0))
    yield crashes
    status = _gauge("nvr_daemon_status", "Daemon check: 0 ok, 1 warning, 2 critical", ["daemon"])
    for result in report.results:
        if result.name.startswith(_DAEMON_PREFIX):
            status.add_metric([result.name[len(_DAEMON_PREFIX) :]], _SEVERITY[result.severity])
    yield status


def daemon_metrics(facts: Facts, report: HealthReport) -> Iterator[Metric]:
    """Heartbeat ages, the overall verdict and the build."""
    ages = _gauge(
        "nvr_daemon_heartbeat_age_seconds", "Seconds since the last heartbeat", ["daemon"]
    )
    for name, beat in sorted(facts.heartbeats.items()):
        ages.add_metric([name], max(0.0, (facts.now_ms - beat.updated_at_ms) / 1000))
    yield ages
    yield from crash_metrics(facts, report)
    yield GaugeMetricFamily(
        "nvr_health_status",
        "Overall /health verdict: 0 healthy, 1 degraded, 2 unhealthy",
        _OVERALL[report.overall],
    )
    info = InfoMetricFamily("nvr_build", "Version of the nvr package")
    info.add_metric([], {"version": __version__})
    yield info


class _Snapshot(Collector):
    def __init__(self, facts: Facts, report: HealthReport, totals: Totals) -> None:
        self._facts = facts
        self._report = report
        self._totals = totals

    def collect(self) -> Iterator[Metric]:
        yield from camera_metrics(self._facts)
        yield from camera_health_metrics(self._facts)
        yield from process_metrics(self._facts)
        yield from total_metrics(self._totals)
        yield from disk_metrics(self._facts)
        yield from uplink_metrics(self._facts)
        yield from daemon_metrics(self._facts, self._report)


def render(facts: Facts, report: HealthReport, totals: Totals) -> bytes:
    """The exposition text of one scrape."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot(facts, report, totals))
    return generate_latest(registry)
