"""nvr-report: envelopes with gapless seq, status and daily bodies, coalesced event reports."""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from nvr.cli import report_cmd
from nvr.core.config import parse_config
from nvr.core.state import StateStore, now_ms
from nvr.core.timesync import probe_time_sync
from nvr.report.build import enqueue_daily, previous_local_day
from nvr.report.coalesce import Coalescer, Notice

pytestmark = pytest.mark.timeout(90)
RFC3339_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def config_dict(tmp_path: Path) -> dict[str, Any]:
    (tmp_path / "recordings").mkdir(exist_ok=True)
    return {
        "site": {"id": "smg-01", "name": "Semarang"},
        "storage": {
            "recordings_dir": str(tmp_path / "recordings"),
            "state_file": str(tmp_path / "state.db"),
        },
        "cameras": [
            {"id": "cam01", "name": "Gate", "url": "rtsp://10.0.0.1/a"},
            {"id": "cam02", "name": "Yard", "url": "rtsp://10.0.0.2/a"},
        ],
        "uplink": {"head_office": {"url": "https://ho.example/api", "secret": "k3y-abcdef"}},
        "report": {"status_interval_minutes": 15, "event_coalesce_seconds": 3},
    }


def outbox(state_file: Path) -> list[dict[str, Any]]:
    with StateStore.open(state_file) as store:
        rows = store.read().execute("SELECT envelope_json FROM outbox ORDER BY id").fetchall()
    return [json.loads(r[0]) for r in rows]


def write_site_rows(store: StateStore, now: int) -> None:
    """Rows as nvr-backup, the validator and nvr-hddmon write them."""
    start = now - 15 * 60_000
    with store.write() as conn:
        for i in range(10):  # cam01: 10 one-minute segments, then offline for 5 minutes
            conn.execute(
                "INSERT INTO segments (camera, path, start_ms, end_ms, bytes, created_at_ms)"
                " VALUES ('cam01', ?, ?, ?, 1000, ?)",
                (f"cam01/{i}.mp4", start + i * 60_000, start + (i + 1) * 60_000, now),
            )
        conn.execute(
            "INSERT INTO recording_runs (camera, started_at_ms, ended_at_ms, end_reason)"
            " VALUES ('cam01', ?, ?, 'camera offline')",
            (start, start + 10 * 60_000),
        )
        for status, at in (("fail", now - 60_000), ("ok", now - 1_000)):
            conn.execute(
                "INSERT INTO validations (camera, check_name, status, reason, checked_at_ms)"
                " VALUES ('cam01', 'resolution', ?, 'x', ?)",
                (status, at),
            )
        measured = {"fps": 0.0, "bitrate_bps": 2_000_000, "uptime_s": 0, "reconnects_per_hour": 4}
        cameras = {"cam01": {"state": "waiting", "reason": "camera offline", **measured}}
        hddmon = {
            "percent": 71.5,
            "free_bytes": 10,
            "total_bytes": 35,
            "smart": {"sda": {"ok": True}},
        }
        for daemon, detail, age in (
            ("nvr-backup", {"cameras": cameras}, 1_000),
            ("nvr-hddmon", hddmon, 60_000),
        ):
            conn.execute(
                "INSERT INTO heartbeats (daemon, pid, state, status, detail_json, started_at_ms,"
                " updated_at_ms, interval_ms) VALUES (?, 1, 'running', 'ok', ?, ?, ?, 5000)",
                (daemon, json.dumps(detail), now - 3_600_000, now - age),
            )


def test_report_now_enqueues_a_status_report_with_everything_head_office_needs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "nvr.yaml"
    config.write_text(yaml.safe_dump(config_dict(tmp_path)))
    with StateStore.open(tmp_path / "state.db") as store:
        write_site_rows(store, now_ms())
    parser = argparse.ArgumentParser()
    report_cmd.add_parser(parser.add_subparsers())
    args = parser.parse_args(["report", "now", "--config", str(config)])
    assert args.func(args) == 0
    assert "queued status report seq 1" in capsys.readouterr().out

    [envelope] = outbox(tmp_path / "state.db")
    assert (envelope["schema"], envelope["site_id"], envelope["kind"], envelope["seq"]) == (
        1,
        "smg-01",
        "status",
        1,
    )
    assert uuid.UUID(envelope["id"]) and RFC3339_UTC.match(envelope["created_at"])
    body = envelope["body"]
    cam01, cam02 = body["cameras"]
    assert cam01["recording"]["state"] == "waiting"
    # Camera health as nvr-backup measured it (docs/design/cameras.md, invariant 8).
    assert cam01["recording"]["reconnects_per_hour"] == 4
    assert cam01["recording"]["bitrate_bps"] == 2_000_000
    assert 9.9 <= cam01["coverage"]["recorded_minutes"] <= 10.1
    assert cam01["coverage"]["expected_minutes"] == 15
    assert [g["reason"] for g in cam01["coverage"]["gaps"]] == ["camera offline"]
    assert [(v["check"], v["status"]) for v in cam01["validation"]] == [("resolution", "ok")]
    assert cam02["coverage"]["recorded_minutes"] == 0 and cam02["recording"]["state"] == "unknown"
    assert body["disk"]["percent"] == 71.5 and body["disk"]["smart"] == {"sda": {"ok": True}}
    stale = {d["daemon"]: d["stale"] for d in body["daemons"]}
    assert stale == {"nvr-backup": False, "nvr-hddmon": True}
    assert body["uplink"]["head_office"]["pending"] == 0
    # Whether the clock was synchronised, as this machine's time service says (or "unknown").
    assert body["clock"] == probe_time_sync().to_json()
    assert "k3y-abcdef" not in json.dumps(envelope)


def test_seq_is_gapless_with_concurrent_writers(tmp_path: Path) -> None:
    state_file = tmp_path / "state.db"
    StateStore.open(state_file).close()
    code = (
        "import sys; from nvr.core.state import StateStore\n"
        "from nvr.core.tables.outbox import append\n"
        "s = StateStore.open(sys.argv[1])\n"
        "for i in range(40):\n"
        "    with s.write() as c: append(c, 'smg-01', 'event', {'w': sys.argv[2], 'i': i})\n"
    )
    writers = [
        subprocess.Popen([sys.executable, "-c", code, str(state_file), str(w)]) for w in range(4)
    ]
    assert [w.wait(60) for w in writers] == [0, 0, 0, 0]
    envelopes = outbox(state_file)
    assert [e["seq"] for e in envelopes] == list(range(1, 161))
    assert len({e["id"] for e in envelopes}) == 160


def test_daily_summary_counts_the_previous_local_day(tmp_path: Path) -> None:
    config = parse_config(config_dict(tmp_path), tmp_path / "nvr.yaml")
    now = datetime(2026, 11, 21, 0, 5, tzinfo=UTC)
    from_ms, to_ms = previous_local_day(now)
    assert to_ms <= now.timestamp() * 1000 < to_ms + 86_400_000
    with StateStore.open(tmp_path / "state.db") as store:
        with store.write() as conn:
            for kind in ("camera_offline", "camera_offline", "disk_high_watermark"):
                conn.execute(
                    "INSERT INTO events (created_at_ms, source, severity, kind, camera, message)"
                    " VALUES (?, 'nvr-backup', 'warning', ?, 'cam01', 'm')",
                    (from_ms + 3_600_000, kind),
                )
            conn.execute(  # the day after: not in this summary
                "INSERT INTO events (created_at_ms, source, severity, kind, message)"
                " VALUES (?, 'nvr-hddmon', 'info', 'disk_low_watermark', 'm')",
                (to_ms + 1,),
            )
        envelope = enqueue_daily(store, config, now)
    assert envelope["kind"] == "daily_summary"
    counts = {e["kind"]: e["count"] for e in envelope["body"]["events"]}
    assert counts == {"camera_offline": 2, "disk_high_watermark": 1}
    expected = envelope["body"]["cameras"][0]["coverage"]["expected_minutes"]
    assert expected == (to_ms - from_ms) / 60_000  # the whole day, 24 h outside DST changes


def test_a_flapping_camera_yields_one_report_then_one_summary_per_window() -> None:
    coalescer = Coalescer(window_ms=300_000)
    sent = []
    for i in range(20):
        kind = "camera_offline" if i % 2 == 0 else "camera_recovered"
        notice = Notice("camera:cam01", kind, "warning", f"{kind} #{i}", 1_000 + i * 1_000, "cam01")
        report = coalescer.offer(notice, 1_000 + i * 1_000)
        if report:
            sent.append(report)
    assert [r.body["event"] for r in sent] == ["camera_offline"]  # at once, not after 5 min
    assert coalescer.due(200_000) == []
    [summary] = coalescer.due(301_000)
    assert summary.body["count"] == 19
    assert summary.body["coalesced"] == {"camera_offline": 9, "camera_recovered": 10}
    assert summary.body["event"] == "camera_recovered"  # the latest state wins
    critical = Notice("kind:disk_read_only", "disk_read_only", "critical", "ro", 5, None)
    alarm = coalescer.offer(critical, 302_000)
    assert alarm is not None and alarm.kind == "alarm"
