"""nvr.core.alarms: which events are alarms, their alarm_type, and the bounded replay."""

from __future__ import annotations

from pathlib import Path

from nvr.core import alarms
from nvr.core.state import StateStore


def test_alarm_types_in_the_hse_platforms_words() -> None:
    def name(kind: str, severity: str = "info", **data: object) -> str | None:
        found = alarms.alarm_type(kind, severity, dict(data))
        return None if found is None else found.name

    assert name("camera_not_recording", "warning") == "CameraOffline"
    assert alarms.alarm_type("camera_recovered", "info", {}) == alarms.AlarmType(
        "CameraOnline", "CameraOffline"
    )
    assert name("camera_invalid", "critical", problem="covered") == "PictureCovered"
    assert name("camera_invalid", "critical", problem="frozen") == "PictureFrozen"
    assert name("camera_invalid", "critical", problem="blurred") == "PictureBlurred"
    assert name("camera_invalid", "critical", problem="black") == "PictureBlack"
    assert name("recording_blocked", "critical") == "RecordingStopped"
    assert name("disk_smart_reallocated_sectors", "critical") == "DiskFailing"
    assert name("disk_headroom_low", "warning") == "DiskFull"
    assert name("disk_high_watermark", "warning") is None  # the janitor at work, not an alarm
    assert name("disk_only_protected_left", "critical") == "EvidenceAtRisk"
    assert name("external_alarm", "critical", alarm_type="NoHelmet") == "NoHelmet"
    assert name("state_restored", "critical") == "StateRestored"  # any other critical event
    # Not alarms: SMART's all-clear, ordinary news, the clip follow-up.
    assert name("disk_smart_ok") is None
    assert name("evidence_protected") is None
    assert name("alarm_clip") is None
    assert not alarms.is_alarm("daemon_restarted", "warning", {})


def test_replay_is_bounded_by_count_and_age_and_goes_oldest_first(tmp_path: Path) -> None:
    with StateStore.open(tmp_path / "state.db") as store, store.write() as conn:
        for event_id in range(1, 11):
            at_ms = event_id * 1000
            alarms.insert_message(conn, event_id, None, at_ms, {"type": "alarm", "n": event_id})
        conn = store.read()
        assert [m["id"] for m in alarms.messages_after(conn, 0, 0, 4)] == [1, 2, 3, 4]
        assert [m["id"] for m in alarms.messages_after(conn, 4, 0, 4)] == [5, 6, 7, 8]
        # Older than the age bound: left out even when the cursor asks for them.
        assert [m["id"] for m in alarms.messages_after(conn, 0, 8000, 100)] == [8, 9, 10]
        assert alarms.last_message_id(conn) == 10
