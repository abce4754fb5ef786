"""nvr-hse's retention, run by the real daemon on a real state file (docs/design/hse.md,
invariant 8): old alarm messages every reader has go; what a reader, MinIO or a clip
still needs stays; the count bound holds; old posted events go once every events reader
has them; old pictures go unless MinIO waits for them.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
import yaml

from nvr.core import alarms
from nvr.core.alarms import EVENT_CURSORS, EXTERNAL_KIND, REPORT_EVENT_CURSOR_KEY
from nvr.core.state import StateStore, now_ms
from nvr.core.tables.uploads import ObjectRef, UploadKind, enqueue
from nvr.hse.constants import ALARMS_KEEP_ROWS
from nvr.hse.snapshot import images_dir
from nvr_camsim.mediamtx import free_port
from nvrtest import base_config, query_state, ready_daemon, wait_until

pytestmark = pytest.mark.timeout(120)

DAY_MS = 86_400_000
PICTURE_KEY = "2026/11/20/test-01/cam01/2-unsent.jpg"


def message(store: StateStore, event_id: int, at_ms: int, image: str | None = None) -> int:
    body = {"type": "alarm", "alarm_type": "NoHelmet", "minio_image_path": image}
    with store.write() as conn:
        return alarms.insert_message(conn, event_id, None, at_ms, body)


def picture(directory: Path, name: str, age_ms: int) -> Path:
    path = directory / name
    path.write_bytes(b"\xff\xd8 a picture")
    stamp = time.time() - age_ms / 1000
    os.utime(path, (stamp, stamp))
    return path


def test_delivered_old_alarms_go_and_what_is_still_needed_stays(tmp_path: Path) -> None:
    config = base_config(
        tmp_path,
        hse={"listen": f"127.0.0.1:{free_port()}", "token": "centre-token-prune-3b"},
        uplink={"mqtt": {"host": "127.0.0.1", "port": free_port(), "tls": False}},
    )
    config_path = tmp_path / "nvr.yaml"
    config_path.write_text(yaml.safe_dump(config))
    state_file = tmp_path / "state" / "state.db"
    now, old = now_ms(), now_ms() - 8 * DAY_MS  # past the week's retention
    pictures = images_dir(state_file)
    pictures.mkdir(parents=True)
    with StateStore.open(state_file) as store:
        gone_by_age = message(store, 1, old)
        waits_for_minio = message(store, 2, old, image=f"alarm-images/{PICTURE_KEY}")
        clip_open = message(store, 3, old)
        gone_by_count = message(store, 4, now)
        ws_not_sent = message(store, 5, now)
        with store.write() as conn:
            conn.executemany(
                "INSERT INTO hse_alarms (event_id, created_at_ms, message_json) VALUES (?, ?, ?)",
                [(10**6 + n, now, "{}") for n in range(ALARMS_KEEP_ROWS)],
            )
        mqtt_not_sent = message(store, 6, old)
        unsent = picture(pictures, "2-unsent.jpg", 2 * DAY_MS)
        sent = picture(pictures, "7-sent.jpg", 2 * DAY_MS)
        fresh = picture(pictures, "8-fresh.jpg", 0)
        with store.write() as conn:
            alarms.save_cursor(conn, alarms.MQTT_CURSOR, mqtt_not_sent - 1)
            alarms.save_cursor(conn, alarms.WS_CURSOR, gone_by_count)
            enqueue(conn, ObjectRef("alarm-images", PICTURE_KEY), unsent, UploadKind.SNAPSHOT)
            enqueue(conn, ObjectRef("alarm-images", "x/7-sent.jpg"), sent, UploadKind.SNAPSHOT)
            conn.execute("UPDATE uploads SET state = 'done' WHERE path = ?", (str(sent),))
            conn.execute(
                "INSERT INTO alarm_clips (event_id, camera, from_ms, to_ms, protection_id,"
                " created_at_ms) VALUES (3, 'cam01', ?, ?, 1, ?)",
                (old - 10_000, old + 20_000, old),
            )
        # Events posted to the ingest API (and one of another daemon's), against the
        # readers' cursors: nvr-report has read up to 1001, the others further.
        events = [
            (2, old, "nvr-hse", EXTERNAL_KIND),  # its message waits for MinIO
            (999, now, "nvr-hse", EXTERNAL_KIND),  # recent
            (1000, old, "nvr-backup", "camera_offline"),  # not nvr-hse's
            (1001, old, "nvr-hse", EXTERNAL_KIND),  # read by all, no message: goes
            (1002, old, "nvr-hse", EXTERNAL_KIND),  # nvr-report has not read it
            (1003, now, "nvr-report", "report_sent"),  # the newest
        ]
        with store.write() as conn:
            conn.executemany(
                "INSERT INTO events (id, created_at_ms, source, severity, kind, message)"
                " VALUES (?, ?, ?, 'critical', ?, 'posted')",
                events,
            )
            for reader in EVENT_CURSORS:
                alarms.save_cursor(conn, reader, 1003)
            conn.execute(
                "INSERT INTO report_state (key, value) VALUES (?, '1001')",
                (REPORT_EVENT_CURSOR_KEY,),
            )
    total = ALARMS_KEEP_ROWS + 6

    with ready_daemon("nvr.hse.main", config_path, tmp_path) as (daemon, _):
        # The first tick prunes (then every 10 minutes).
        wait_until(
            lambda: (
                "retention: deleted 2 delivered alarm messages, 1 posted events and 1"
                in daemon.log()
            ),
            60,
            "nvr-hse's retention pass",
        )
    ids = {row[0] for row in query_state(state_file, "SELECT id FROM hse_alarms")}
    assert len(ids) == total - 2
    assert gone_by_age not in ids and gone_by_count not in ids
    assert {waits_for_minio, clip_open, ws_not_sent, mqtt_not_sent} <= ids
    assert not sent.exists() and unsent.exists() and fresh.exists()
    kept = {row[0] for row in query_state(state_file, "SELECT id FROM events")}
    assert kept == {2, 999, 1000, 1002, 1003}
