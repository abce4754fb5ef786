"""Time health: whether the clock is synchronised, from whichever time service the box has."""

from __future__ import annotations

import io
import subprocess
from collections.abc import Sequence
from pathlib import Path

from nvr.cli import status_cmd
from nvr.core.timesync import (
    CHRONYC,
    TIMEDATECTL,
    SyncState,
    TimeSync,
    parse_chronyc,
    parse_timedatectl,
    probe_time_sync,
    run_command,
)
from nvr.health.probes import ProbeBoard
from nvrtest.box import make_box

# `timedatectl show` of systemd 252 (Debian 12) on a box whose NTP has not yet answered.
TIMEDATECTL_UNSYNCED = """\
Timezone=Europe/Berlin
LocalRTC=no
CanNTP=yes
NTP=yes
NTPSynchronized=no
TimeUSec=Mon 2026-11-30 23:45:00 CET
RTCTimeUSec=Mon 2026-11-30 23:44:58 CET
"""
TIMEDATECTL_SYNCED = TIMEDATECTL_UNSYNCED.replace("NTPSynchronized=no", "NTPSynchronized=yes")
# `chronyc -n tracking` of chrony 4.3 once synchronised, and before it ever was.
CHRONYC_SYNCED = """\
Reference ID    : C0A80101 (192.168.1.1)
Stratum         : 3
Ref time (UTC)  : Mon Nov 30 22:44:58 2026
System time     : 0.000011243 seconds fast of NTP time
Last offset     : +0.000009312 seconds
RMS offset      : 0.000012345 seconds
Frequency       : 2.345 ppm slow
Residual freq   : +0.000 ppm
Skew            : 0.012 ppm
Root delay      : 0.000345 seconds
Root dispersion : 0.000123 seconds
Update interval : 64.2 seconds
Leap status     : Normal
"""
CHRONYC_UNSYNCED = """\
Reference ID    : 00000000 ()
Stratum         : 0
Ref time (UTC)  : Thu Jan 01 00:00:00 1970
System time     : 0.000000000 seconds fast of NTP time
Leap status     : Not synchronised
"""


class Answers:
    """A runner that answers some commands with fixed text and fails the others."""

    def __init__(self, answers: dict[tuple[str, ...], str]) -> None:
        self.answers = answers
        self.asked: list[tuple[str, ...]] = []

    def __call__(self, argv: Sequence[str]) -> str:
        self.asked.append(tuple(argv))
        if tuple(argv) not in self.answers:
            raise FileNotFoundError(argv[0])
        return self.answers[tuple(argv)]


def test_the_real_probe_agrees_with_the_machine() -> None:
    """Whatever this machine has (on a container: nothing), the probe reports it truly."""
    result = probe_time_sync()
    expected = SyncState.UNKNOWN
    for argv, parse in ((TIMEDATECTL, parse_timedatectl), (CHRONYC, parse_chronyc)):
        try:
            out = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=5)
        except (OSError, subprocess.SubprocessError):
            continue
        parsed = parse(out.stdout)
        if parsed is not None:
            expected = parsed.state
            break
    assert result.state is expected, result
    if result.state is SyncState.UNKNOWN:
        assert "unknown" in result.detail and result.source == "none"
    assert run_command(["true"]) == ""


def test_real_output_formats_are_read() -> None:
    assert parse_timedatectl(TIMEDATECTL_SYNCED) == TimeSync(
        SyncState.SYNCHRONISED, "timedatectl", "NTPSynchronized=yes, NTP service on"
    )
    unsynced = parse_timedatectl(TIMEDATECTL_UNSYNCED)
    assert unsynced is not None and unsynced.state is SyncState.UNSYNCHRONISED
    assert parse_timedatectl("Timezone=UTC\n") is None
    synced = parse_chronyc(CHRONYC_SYNCED)
    assert synced is not None and synced.state is SyncState.SYNCHRONISED
    assert "0.000011243 seconds fast of NTP time" in synced.detail
    chrony_unsynced = parse_chronyc(CHRONYC_UNSYNCED)
    assert chrony_unsynced is not None and chrony_unsynced.state is SyncState.UNSYNCHRONISED


def test_timedatectl_first_then_chrony_then_unknown() -> None:
    both = Answers({TIMEDATECTL: TIMEDATECTL_SYNCED, CHRONYC: CHRONYC_UNSYNCED})
    assert probe_time_sync(both).source == "timedatectl"
    assert both.asked == [TIMEDATECTL]
    chrony_only = Answers({CHRONYC: CHRONYC_UNSYNCED})
    assert probe_time_sync(chrony_only).state is SyncState.UNSYNCHRONISED
    assert probe_time_sync(Answers({})).state is SyncState.UNKNOWN


def test_an_unsynchronised_clock_is_a_warning_in_health_and_nvrctl_status(tmp_path: Path) -> None:
    box = make_box(tmp_path)
    probes = ProbeBoard(run=Answers({TIMEDATECTL: TIMEDATECTL_UNSYNCED}))
    out = io.StringIO()
    code = status_cmd.run_status(
        box.config, as_json=False, out=out, probes=probes, clock=lambda: box.now
    )
    text = out.getvalue()
    assert code == 0, "a warning, not critical: recording goes on"
    assert text.startswith("NVR test-01 (Test site): DEGRADED")
    assert "\nCLOCK\n" in text
    assert "clock: clock not synchronised (NTPSynchronized=no, NTP service on)" in text

    out = io.StringIO()
    status_cmd.run_status(box.config, as_json=True, out=out, probes=probes, clock=lambda: box.now)
    assert '"state": "unsynchronised"' in out.getvalue()

    synced = ProbeBoard(run=Answers({TIMEDATECTL: TIMEDATECTL_SYNCED}))
    out = io.StringIO()
    status_cmd.run_status(box.config, as_json=False, out=out, probes=synced, clock=lambda: box.now)
    assert "synchronised (NTPSynchronized=yes, NTP service on)" in out.getvalue()
    assert "PROBLEMS" not in out.getvalue()
    box.store.close()
