"""Power cuts in a VM (issue 15 part 3): SIGKILL qemu at random moments and boot again.

One VM for the module: Debian 12 from packaging/dev/build-vm-image.sh, the .deb from
`make deb` installed by `dpkg -i` in the guest and run by its systemd, recording two
simulated cameras on the host and reporting to nvr-headoffice on the host. Each cut must
leave: every segment the index called `ok` intact (same SHA-256), the partial segment of
each camera indexed and playable or quarantined (never a file the index ignores),
`PRAGMA integrity_check` ok, the gap shown as a power loss, and at the end every report
seq at head office exactly once. `make bench` runs the same rig for 20+ cuts
(tests/bench/bench_powercut.py). See docs/design/powercut.md.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator

import pytest

from .powercut import CAMERAS, PowercutRig, Round

# Four TCG boots: ~5 min on a quiet 2-core box, three times that on a loaded one. Each boot
# and command has its own deadline; this only catches what they do not.
pytestmark = pytest.mark.timeout(1800)

CUTS = 3
# Seconds between "both cameras record" and the cut: inside a segment, across a cut of
# segments, during indexing; random, with the seed printed so a failure can be replayed.
CUT_WINDOW_S = (2.0, 14.0)


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PowercutRig]:
    seed = int(os.environ.get("NVR_POWERCUT_SEED", random.randrange(1 << 30)))
    print(f"power cut seed: {seed} (NVR_POWERCUT_SEED={seed} replays it)")
    with PowercutRig(tmp_path_factory.mktemp("powercut"), seed) as rig:
        yield rig


def test_power_cuts_lose_no_indexed_segment_and_no_report(rig: PowercutRig) -> None:
    rig.start_recording()
    rounds: list[Round] = []
    for number in range(1, CUTS + 1):
        round_ = rig.cut_round(number, *CUT_WINDOW_S)
        rounds.append(round_)
        assert not round_.problems, (round_, rig.journal())
        assert round_.indexed_segments_lost == 0
        assert round_.unplayable_unquarantined == 0
        assert not round_.db_corrupt
        # `nvrctl coverage` names the time the box was off as a power loss.
        assert set(round_.cut_gap_reasons.values()) == {"power loss (unclean shutdown)"}
        # Every camera's partial segment was accounted for: indexed and playable, or
        # quarantined (a segment never flushed before the cut leaves no file at all).
        assert all(b["playable"] or b["status"] == "quarantined" for b in round_.boundary)
    for camera in CAMERAS:
        shown = rig.nvrctl_coverage(camera, "-2h")
        assert shown.count(": power loss (unclean shutdown)") == CUTS, shown
    reports = rig.drain_reports()
    assert reports.guest_last_seq is not None and reports.last_seq == reports.guest_last_seq
    assert reports.first_seq == 1, reports
    assert reports.missing == 0, reports
    assert reports.seq_reused == 0, reports
    print("power cut rounds:", rounds, reports)
