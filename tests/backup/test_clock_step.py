"""The wall clock steps under a running recorder: nothing overwritten, no video lost.

nvr-backup and its ffmpeg children run under libfaketime with a control file the test
rewrites, so they (and only they) see the clock jump; the machine's clock is untouched
and the monotonic clock is left real, as it is when NTP or a technician steps the time.
"""

from __future__ import annotations

import glob
import itertools
import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from nvr.core.timeutil import format_ms
from nvr_camsim import CameraSimulator
from nvrtest import wait_until

from .harness import Backup
from .test_recording import nvrctl

MakeBackup = Callable[..., Backup]
SEGMENT_SECONDS = 4
HOUR_MS = 3_600_000
# A repeat of the last few names: the step back is three segments long.
SHORT_STEP_MS = 3 * SEGMENT_SECONDS * 1000
CONTINUITY_MS = 2_000


def libfaketime() -> str:
    """The multithreaded libfaketime (Debian package `faketime`); fail loudly without it."""
    found = glob.glob("/usr/lib/*/faketime/libfaketimeMT.so.1")
    assert found, "libfaketime missing: run packaging/dev/install-deps.sh (package faketime)"
    return found[0]


def sleep_fix(directory: Path) -> Path:
    """Build the clock_nanosleep pass-through that works around libfaketime issue #426."""
    library = directory / "monotonic_sleep.so"
    source = Path(__file__).with_name("monotonic_sleep.c")
    subprocess.run(["cc", "-shared", "-fPIC", "-o", library, source], check=True)
    return library


class FakeClock:
    """The offset nvr-backup and ffmpeg see, written to libfaketime's control file."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / "faketime"
        self.preload = f"{sleep_fix(directory)} {libfaketime()}"
        self.set(0)

    def env(self) -> dict[str, str]:
        return {
            "LD_PRELOAD": self.preload,
            "FAKETIME_TIMESTAMP_FILE": str(self.path),
            "FAKETIME_NO_CACHE": "1",  # read the file at every call: the step is immediate
            "FAKETIME_DONT_FAKE_MONOTONIC": "1",
        }

    def set(self, offset_ms: int) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(f"{offset_ms / 1000:+.3f}\n")
        tmp.replace(self.path)  # never a half-written file for a reader


def rows(backup: Backup) -> list[tuple[str, int, int, str]]:
    """Indexed segments in index (chain) order."""
    return [
        (r[0], r[1], r[2], r[3])
        for r in backup.query(
            "SELECT path, start_ms, end_ms, sha256 FROM segments WHERE camera = 'cam01'"
            " AND status = 'ok' ORDER BY id"
        )
    ]


def step_mid_segment(backup: Backup, clock: FakeClock, offset_ms: int, steps_seen: int) -> None:
    """Wait for the middle of a segment, step the clock, wait for the event and 3 segments."""
    wait_until(lambda: 1.5 < time.time() % SEGMENT_SECONDS < 2.5, 10, "mid-segment")
    clock.set(offset_ms)
    wait_until(
        lambda: len(backup.events("clock_step")) == steps_seen + 1, 30, "the clock_step event"
    )
    count = len(rows(backup))
    wait_until(lambda: len(rows(backup)) >= count + 3, 60, "three more segments")


def test_clock_steps_overwrite_nothing_and_lose_no_video(
    backup_factory: MakeBackup, sim: CameraSimulator, tmp_path: Path
) -> None:
    clock = FakeClock(tmp_path)
    backup = backup_factory(["cam01"], segment_seconds=SEGMENT_SECONDS)
    backup.start(**clock.env())
    wait_until(lambda: len(rows(backup)) >= 3, 60, "3 segments")
    real_start_ms = rows(backup)[0][1]

    step_mid_segment(backup, clock, -HOUR_MS, 0)  # NTP corrects a clock an hour fast
    step_mid_segment(backup, clock, 0, 1)  # and the wrong time comes back (RTC)
    before_repeat = {path: sha for path, _, _, sha in rows(backup)}
    step_mid_segment(backup, clock, -SHORT_STEP_MS, 2)  # names of the last 12 s repeat
    backup.stop()

    # Evidence never changes: every file indexed before a repeat holds what was hashed.
    verify = nvrctl(backup, "recordings", "verify", "--camera", "cam01")
    assert verify.returncode == 0, verify.stdout + verify.stderr
    final = rows(backup)
    assert {p: s for p, _, _, s in final if p in before_repeat} == before_repeat
    # The last 12 s of clock time were recorded a second time, beside the first take; a
    # second take that starts in a second the first one named gets a ~N name.
    until_ms = max(end for path, _, end, _ in final if path in before_repeat)
    taken = {start // 1000 for path, start, _, _ in final if path in before_repeat}
    retakes = [(p, s) for p, s, _, _ in final if p not in before_repeat and s < until_ms - 2000]
    assert len(retakes) >= 2, final
    for path, start in retakes:
        assert (start // 1000 in taken) == ("~" in Path(path).name), (path, sorted(taken))
    on_disk = {str(p.relative_to(backup.recordings)) for p in backup.recordings.rglob("*.mp4")}
    assert on_disk == {p for p, _, _, _ in final}, "every file indexed, nothing left staged"

    # No video lost: in chain order each segment follows the previous one, except by the steps.
    deltas = [b[1] - a[2] for a, b in itertools.pairwise(final)]
    jumps = [delta for delta in deltas if abs(delta) > CONTINUITY_MS]
    assert len(jumps) == 3, f"continuity broken beyond the three steps: {jumps}"
    for jump, step in zip(jumps, (-HOUR_MS, HOUR_MS, -SHORT_STEP_MS), strict=True):
        assert abs(jump - step) <= CONTINUITY_MS, (jumps, step)

    # The steps are told once each, and runs never end before they start.
    messages = [m for _, m in backup.events("clock_step")]
    assert len(messages) == 3, messages
    assert "stepped back 3600" in messages[0] and "stepped forward 3600" in messages[1]
    runs = backup.query(
        "SELECT started_at_ms, ended_at_ms, end_reason FROM recording_runs ORDER BY id"
    )
    assert all(end >= start for start, end, _ in runs), runs
    assert [r[2] for r in runs] == ["clock step"] * 3 + ["shutdown"]

    # Coverage up to the short step: the video of the stepped-back stretch sits an hour
    # earlier, and the hole it leaves is shown as a clock step, not as a camera problem.
    report = nvrctl(
        backup, "coverage", "--camera", "cam01", f"--from={format_ms(real_start_ms)}",
        f"--to={format_ms(until_ms)}", "--json",
    )  # fmt: skip
    assert report.returncode == 0, report.stderr
    gaps = json.loads(report.stdout)["gaps"]
    assert [g["reason"] for g in gaps] == ["clock step"], gaps
    assert gaps[0]["seconds"] >= 3 * SEGMENT_SECONDS - 2, gaps
