"""nvr-backup against simulated cameras: what a technician and head office would notice."""

from __future__ import annotations

import itertools
import json
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import psutil

from nvr.core.tables.recordings import file_sha256
from nvr.core.timeutil import format_ms
from nvr.core.tools import require_tool
from nvr_camsim import CameraSimulator
from nvr_camsim.faults import Fault
from nvrtest import run_nvrctl, wait_until

from .harness import Backup

MakeBackup = Callable[..., Backup]
CONTINUITY_MS = 2_000


def ffprobe(path: Path) -> dict[str, object]:
    result = subprocess.run(
        [require_tool("ffprobe"), "-v", "error", "-show_entries",
         "stream=codec_name,width,height:format=duration", "-of", "json", str(path)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, f"{path} does not play: {result.stderr}"
    data: dict[str, object] = json.loads(result.stdout)
    return data


def video_span_ms(path: Path) -> float:
    """First video packet to the end of the last one: the video the file holds."""
    result = subprocess.run(
        [require_tool("ffprobe"), "-v", "error", "-select_streams", "v:0",
         "-show_entries", "packet=pts_time,duration_time", "-of", "csv=p=0", str(path)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    packets = [tuple(map(float, line.split(",")[:2])) for line in result.stdout.split()]
    return 1000 * (max(p + d for p, d in packets) - min(p for p, _ in packets))


def nvrctl(backup: Backup, *args: str) -> subprocess.CompletedProcess[str]:
    return run_nvrctl(backup.config_path, *args)


def assert_continuous(segments: list[tuple[str, int, int, int]]) -> None:
    for (path_a, _, end_a, _), (path_b, start_b, _, _) in itertools.pairwise(segments):
        assert abs(start_b - end_a) <= CONTINUITY_MS, f"gap between {path_a} and {path_b}"


def ffmpeg_of(backup: Backup, camera: str) -> psutil.Process:
    assert backup.proc is not None
    for child in psutil.Process(backup.proc.pid).children():
        if any(f"/{camera}/" in arg for arg in child.cmdline()):
            return child
    raise AssertionError(f"no ffmpeg for {camera}")


def test_four_cameras_recorded_indexed_playable_and_continuous(
    backup_factory: MakeBackup, sim: CameraSimulator
) -> None:
    cameras = sim.camera_ids
    backup = backup_factory(cameras)
    backup.start()
    wait_until(
        lambda: all(len(backup.segments(c)) >= 4 for c in cameras), 90, "4 segments per camera"
    )
    assert "recording 4/4 cameras" in backup.heartbeat()["status"]
    # `top -H` tells the threads apart (nvr.core.threadname): hashing, syncing, ffmpeg's pipes.
    assert backup.proc is not None
    names = [t.read_text().strip() for t in Path(f"/proc/{backup.proc.pid}/task").glob("*/comm")]
    assert {"indexer", "segment-sync"} <= set(names), names
    assert names.count("ffmpeg-progress") == names.count("ffmpeg-segments") == 4, names
    assert backup.stop() == 0

    on_disk = {str(p.relative_to(backup.recordings)) for p in backup.recordings.rglob("*.mp4")}
    indexed = {row[0] for row in backup.query("SELECT path FROM segments")}
    assert on_disk == indexed, "every file has a row and every row a file"
    for camera in cameras:
        segments = backup.segments(camera)
        assert_continuous(segments)
        for path, start_ms, end_ms, size in segments:
            info = ffprobe(backup.recordings / path)
            assert info["streams"] == [{"codec_name": "h264", "width": 640, "height": 360}]
            assert abs(float(info["format"]["duration"]) * 1000 - (end_ms - start_ms)) < 1500  # type: ignore[index]
            assert size == (backup.recordings / path).stat().st_size
            # Names are the UTC clock time at which the segment file was opened.
            assert path.startswith(
                f"{camera}/{time.strftime('%Y-%m-%d', time.gmtime(start_ms / 1000))}"
            )
        full = [s for s in segments[1:-1]]
        assert all(9_000 <= end - start <= 11_000 for _, start, end, _ in full)
    runs = backup.query("SELECT camera, end_reason FROM recording_runs")
    assert sorted(runs) == [(c, "shutdown") for c in cameras]


def test_hash_chain_verifies_and_catches_an_altered_segment(
    backup_factory: MakeBackup, sim: CameraSimulator
) -> None:
    backup = backup_factory(["cam01"], segment_seconds=4)
    backup.start()
    wait_until(lambda: len(backup.segments("cam01")) >= 3, 60, "3 segments")
    backup.stop()
    ok = nvrctl(backup, "recordings", "verify", "--camera", "cam01")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    victim = backup.recordings / backup.segments("cam01")[1][0]
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0xFF
    victim.write_bytes(bytes(data))
    bad = nvrctl(backup, "recordings", "verify", "--camera", "cam01")
    assert bad.returncode == 1
    assert f"{backup.segments('cam01')[1][0]}: content altered" in bad.stdout


def test_recordings_list_json_and_export(backup_factory: MakeBackup, sim: CameraSimulator) -> None:
    backup = backup_factory(["cam02"], segment_seconds=4)
    backup.start()
    wait_until(lambda: len(backup.segments("cam02")) >= 3, 60, "3 segments")
    # While recording, the last minute: says how much it holds and why not all of it.
    latest = nvrctl(
        backup, "export", "--camera", "cam02", "--from=-1m", "--to=now",
        "-o", str(backup.root / "last-minute.mp4"),
    )  # fmt: skip
    assert latest.returncode == 0, latest.stderr
    summary = latest.stdout.splitlines()[-1]
    assert summary.startswith("exported ") and "of the 60 s asked for: not in it:" in summary
    assert "not recording" in summary  # the camera started recording under a minute ago
    # The open segment is a gap only when the last one closed more than 2 s ago.
    assert ("segment in progress" in summary) == ("exported once it closes" in summary)
    backup.stop()
    listing = nvrctl(backup, "recordings", "list", "--camera", "cam02", "--json")
    items = json.loads(listing.stdout)
    assert [i["path"] for i in items] == [s[0] for s in backup.segments("cam02")]
    assert {"camera", "path", "start", "end", "bytes", "sha256"} <= set(items[0])
    clip = backup.root / "clip.mp4"
    result = nvrctl(
        backup, "export", "--camera", "cam02", f"--from={items[0]['start']}",
        f"--to={items[-1]['end']}", "-o", str(clip),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    total = sum(i["duration_seconds"] for i in items)
    duration = float(ffprobe(clip)["format"]["duration"])  # type: ignore[index]
    assert abs(duration - total) < 2.0, "the export is as long as the segments it joins"


def test_camera_offline_then_back(backup_factory: MakeBackup, sim: CameraSimulator) -> None:
    backup = backup_factory(
        ["cam03"],
        segment_seconds=4,
        liveness_probe_seconds=1,
        backoff={"initial_seconds": 1, "factor": 1.0, "max_seconds": 1,
                 "warn_after_failures": 3, "critical_after_failures": 6},
    )  # fmt: skip
    backup.start()
    wait_until(lambda: backup.segments("cam03"), 60, "first segment")
    went_offline = time.time()
    sim.set_fault("cam03", Fault.OFFLINE)
    wait_until(lambda: backup.events("camera_not_recording", "cam03"), 60, "warning event")
    wait_until(lambda: len(backup.events("camera_not_recording", "cam03")) >= 2, 60, "critical")
    severities = [s for s, _ in backup.events("camera_not_recording", "cam03")]
    assert severities == ["warning", "critical"]
    assert "camera offline" in backup.events("camera_not_recording", "cam03")[0][1]
    wait_until(
        lambda: "cam03 camera offline, retry in" in backup.heartbeat()["status"], 30, "STATUS"
    )

    sim.set_fault("cam03", None)
    back = time.time()
    wait_until(lambda: backup.events("camera_recovered", "cam03"), 30, "recovery event")
    first_after = wait_until(
        lambda: [s for s in backup.segments("cam03") if s[1] > back * 1000 - 3000],
        30,
        "a segment after the camera returned",
    )[0]
    assert first_after[1] / 1000 - back < 10, "recording resumes within 10 s of the return"
    backup.stop()

    report = nvrctl(
        backup, "coverage", "--camera", "cam03",
        f"--from={format_ms(int(went_offline * 1000) - 2000)}",
        f"--to={format_ms(int(back * 1000) + 2000)}", "--json",
    )  # fmt: skip
    assert report.returncode == 0, report.stderr
    gaps = json.loads(report.stdout)["gaps"]
    assert [g["reason"] for g in gaps] == ["camera offline"], gaps
    assert gaps[0]["seconds"] >= back - went_offline - 6


def test_killed_ffmpeg_leaves_a_playable_partial_segment(
    backup_factory: MakeBackup, sim: CameraSimulator
) -> None:
    backup = backup_factory(["cam04"], segment_seconds=10)
    backup.start()
    wait_until(lambda: backup.segments("cam04"), 60, "first segment")
    time.sleep(5)  # well into the next 10 s segment
    victim = ffmpeg_of(backup, "cam04")
    victim.kill()
    killed_at = time.time()
    partial = wait_until(
        lambda: [
            s
            for s in backup.segments("cam04")
            if s[2] - s[1] < 9_000 and s[2] / 1000 < killed_at + 1
        ],
        30,
        "the partial segment indexed",
    )[-1]
    assert ffprobe(backup.recordings / partial[0])["streams"]
    wait_until(
        lambda: [s for s in backup.segments("cam04") if s[1] / 1000 > killed_at],
        40,
        "recording again",
    )
    assert ffmpeg_of(backup, "cam04").pid != victim.pid
    backup.stop()
    # Each run's first segment (the camera's first keyframe arrives late) and the partial
    # one are indexed as long as the video they hold, so coverage does not overstate them.
    for path, start_ms, end_ms, _ in backup.segments("cam04"):
        assert abs(end_ms - start_ms - video_span_ms(backup.recordings / path)) < 20, path


def test_kill_9_of_the_daemon_is_repaired_at_start(
    backup_factory: MakeBackup, sim: CameraSimulator
) -> None:
    backup = backup_factory(["cam01", "cam02"], segment_seconds=10)
    backup.start()
    wait_until(lambda: len(backup.segments("cam02")) >= 1, 60, "first segments")
    time.sleep(4)
    children = [ffmpeg_of(backup, c) for c in ("cam01", "cam02")]
    backup.kill()
    psutil.wait_procs(children, timeout=10)  # PR_SET_PDEATHSIG takes ffmpeg down with us
    assert not any(c.is_running() for c in children)
    # ffmpeg writes under a staging name until the segment is indexed (and dated).
    orphans = {file_sha256(p) for p in backup.recordings.rglob(".incoming/*.mp4")}
    assert orphans, "the segments being written at the kill have no row yet"
    lost = backup.recordings / backup.segments("cam01")[0][0]
    lost.unlink()

    backup.start()
    wait_until(lambda: "recording 2/2" in backup.heartbeat().get("status", ""), 60, "recording")
    indexed = {r[0] for r in backup.query("SELECT sha256 FROM segments WHERE status = 'ok'")}
    assert orphans <= indexed, "files without a row were indexed"
    missing = backup.query("SELECT path FROM segments WHERE status = 'missing'")
    assert missing == [(str(lost.relative_to(backup.recordings)),)]
    reasons = backup.query("SELECT end_reason FROM recording_runs WHERE ended_at_ms IS NOT NULL")
    assert reasons == [("nvr-backup stopped unexpectedly",)] * 2
    backup.stop()


def test_wrong_password_is_auth_failed_without_a_tight_loop(
    backup_factory: MakeBackup, sim: CameraSimulator
) -> None:
    sim.set_fault("cam02", Fault.WRONG_PASSWORD)
    backup = backup_factory(
        ["cam01", "cam02"], segment_seconds=4, liveness_probe_seconds=1,
        backoff={"initial_seconds": 5, "factor": 1.5, "max_seconds": 30},
    )  # fmt: skip
    backup.start()
    wait_until(lambda: backup.segments("cam01"), 60, "cam01 recording")
    time.sleep(12)
    runs = backup.query("SELECT end_reason FROM recording_runs WHERE camera = 'cam02'")
    assert runs and all(r[0] in ("auth failed", None) for r in runs), runs
    assert len(runs) <= 4, f"{len(runs)} attempts in ~15 s: retrying too fast"
    wait_until(lambda: "cam02 auth failed, retry in" in backup.heartbeat()["status"], 30, "STATUS")
    assert backup.segments("cam02") == []
    backup.stop()


def test_sighup_adds_and_removes_cameras_without_touching_the_others(
    backup_factory: MakeBackup, sim: CameraSimulator
) -> None:
    backup = backup_factory(["cam01", "cam02", "cam03"], segment_seconds=4)
    backup.start()
    wait_until(lambda: all(backup.segments(c) for c in ("cam01", "cam02", "cam03")), 60, "all")
    pids = {c: ffmpeg_of(backup, c).pid for c in ("cam01", "cam02")}
    backup.write_config(["cam01", "cam02", "cam04"])
    reload_at = time.time()
    backup.signal(signal.SIGHUP)
    wait_until(lambda: [s for s in backup.segments("cam04")], 60, "cam04 recording")
    wait_until(
        lambda: all(s[1] / 1000 > reload_at + 4 for s in backup.segments("cam01")[-1:]), 30, "more"
    )
    assert {c: ffmpeg_of(backup, c).pid for c in ("cam01", "cam02")} == pids
    backup.stop()
    for camera in ("cam01", "cam02"):
        assert backup.query("SELECT end_reason FROM recording_runs WHERE camera = ?", camera) == [
            ("shutdown",)
        ]
        assert_continuous(backup.segments(camera))
    assert backup.query("SELECT end_reason FROM recording_runs WHERE camera = 'cam03'") == [
        ("camera removed from config",)
    ]


def test_mount_guard(backup_factory: MakeBackup, sim: CameraSimulator) -> None:
    backup = backup_factory(["cam01"], segment_seconds=4)
    backup.storage = {"require_mount": True}
    backup.write_config(["cam01"])
    backup.start()
    wait_until(lambda: backup.heartbeat().get("status"), 30, "heartbeat")
    time.sleep(2)
    assert backup.heartbeat()["status"].startswith("NOT RECORDING: disk not mounted")
    assert [s for s, _ in backup.events("recording_blocked")] == ["critical"]
    assert not list(backup.recordings.rglob("*.mp4")), "nothing written to the root filesystem"

    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", backup.recordings], check=True
    )
    try:
        wait_until(lambda: backup.segments("cam01"), 60, "recording on the mounted disk")
    finally:
        # The disk goes away under a running recorder (a loose cable, a dead controller).
        subprocess.run(["umount", "-l", backup.recordings], check=True)
    wait_until(
        lambda: backup.heartbeat()["status"].startswith("NOT RECORDING: disk not mounted"),
        30,
        "unmount noticed",
    )
    backup.stop()
    assert ("disk not mounted",) in backup.query("SELECT end_reason FROM recording_runs")
    assert [s for s, _ in backup.events("recording_blocked")] == ["critical", "critical"]
    assert [s for s, _ in backup.events("recording_unblocked")] == ["info"]


def test_read_only_disk_is_not_recorded_on(
    backup_factory: MakeBackup, sim: CameraSimulator
) -> None:
    backup = backup_factory(["cam01"], segment_seconds=4)
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "ro,size=8m", "tmpfs", backup.recordings], check=True
    )
    try:
        backup.start()
        wait_until(
            lambda: (
                backup.heartbeat().get("status", "").startswith("NOT RECORDING: disk read-only")
            ),
            30,
            "read-only disk noticed",
        )
        backup.stop()
    finally:
        subprocess.run(["umount", backup.recordings], check=True)
    assert backup.query("SELECT count(*) FROM recording_runs") == [(0,)]
