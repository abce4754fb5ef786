"""Benchmark: power cuts in a VM, many rounds (issue 15 part 3).

    .venv/bin/python tests/bench/bench_powercut.py [--rounds 20] [--seed N]
        [--min-cut 2] [--max-cut 25]

The rig of tests/appliance/test_powercut.py (tests/appliance/powercut.py): Debian 12 in
qemu with the .deb installed by dpkg -i, two simulated cameras and nvr-headoffice on the
host; each round waits a random time after both cameras record, SIGKILLs qemu, boots
again and checks what survived. Totals over all rounds:

- indexed_segments_lost: `ok` rows (before the cut, or after it) whose file is gone or
  whose SHA-256 changed;
- unplayable_unquarantined: files on disk without a row after the boot's reconcile, plus
  boundary segments indexed `ok` that ffprobe cannot read;
- db_corrupt: rounds whose `PRAGMA integrity_check` was not ok;
- reports_lost / reports_duplicated_at_receiver_after_dedupe: seqs head office never got
  (and the site did not announce as dropped) / seqs it got twice under different ids;
- max_gap_seconds: power-on (qemu start) to the start of the first new segment of the
  last camera to record again, on the guest's clock corrected by its offset to the host's.

Writes tests/bench/results/powercut.json and powercut.md.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import random
import signal
import sys
import tempfile
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

TESTS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TESTS))

from appliance.powercut import PowercutRig, Reports, Round  # noqa: E402
from appliance.powercut_vm import kvm_works  # noqa: E402

RESULTS = Path(__file__).with_name("results")
log = logging.getLogger("bench_powercut")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=20, help="power cuts (default 20)")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: random)")
    parser.add_argument(
        "--min-cut", type=float, default=2.0, help="earliest cut, s after recording"
    )
    parser.add_argument("--max-cut", type=float, default=25.0, help="latest cut, s after recording")
    return parser.parse_args()


def summarise(
    rounds: list[Round], reports: Reports | None, rig: PowercutRig, args: argparse.Namespace
) -> dict[str, Any]:
    """The results; `reports` is None until the outbox was drained after the last round."""
    return {
        "benchmark": "powercut",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "host": platform.node(),
        "accelerator": "kvm" if kvm_works() else "tcg",
        "seed": rig.seed,
        "cut_window_seconds": [args.min_cut, args.max_cut],
        "rounds": len(rounds),
        "indexed_segments_lost": sum(r.indexed_segments_lost for r in rounds),
        "unplayable_unquarantined": sum(r.unplayable_unquarantined for r in rounds),
        "db_corrupt": sum(1 for r in rounds if r.db_corrupt),
        "complete": reports is not None and len(rounds) == args.rounds,
        "reports_lost": reports.missing if reports else None,
        "reports_duplicated_at_receiver_after_dedupe": reports.seq_reused if reports else None,
        "max_gap_seconds": max((r.gap_s for r in rounds), default=None),
        "median_gap_seconds": sorted(r.gap_s for r in rounds)[len(rounds) // 2] if rounds else None,
        "max_boot_seconds": max((r.boot_s for r in rounds), default=None),
        "max_video_lost_at_cut_seconds": max((r.video_lost_s for r in rounds), default=None),
        "median_video_lost_at_cut_seconds": (
            sorted(r.video_lost_s for r in rounds)[len(rounds) // 2] if rounds else None
        ),
        "gap_reasons_power_loss": sum(
            1
            for r in rounds
            for reason in r.cut_gap_reasons.values()
            if reason == "power loss (unclean shutdown)"
        ),
        "partial_segments": {
            "indexed_playable": sum(
                1 for r in rounds for b in r.boundary if b["status"] == "ok" and b["playable"]
            ),
            "quarantined": sum(
                1 for r in rounds for b in r.boundary if b["status"] == "quarantined"
            ),
        },
        "first_boot_seconds": round(rig.first_boot_s, 1),
        "install_seconds": round(rig.install_s, 1),
        "reports": asdict(reports) if reports else None,
        "per_round": [{k: v for k, v in asdict(r).items() if k != "boundary"} for r in rounds],
    }


def markdown(result: dict[str, Any]) -> str:
    rows = [
        ("rounds (power cuts)", result["rounds"]),
        ("indexed segments lost", result["indexed_segments_lost"]),
        ("unplayable and not quarantined", result["unplayable_unquarantined"]),
        ("rounds with a corrupt state file", result["db_corrupt"]),
        ("reports lost", result["reports_lost"]),
        (
            "reports duplicated at head office after dedupe",
            result["reports_duplicated_at_receiver_after_dedupe"],
        ),
        ("max gap, power-on to recording again (s)", result["max_gap_seconds"]),
        ("median gap (s)", result["median_gap_seconds"]),
        ("max boot to guest agent (s)", result["max_boot_seconds"]),
        ("max video lost before the cut (s)", result["max_video_lost_at_cut_seconds"]),
        ("median video lost before the cut (s)", result["median_video_lost_at_cut_seconds"]),
        ("gaps named as power loss", result["gap_reasons_power_loss"]),
        ("boundary segments indexed and playable", result["partial_segments"]["indexed_playable"]),
        ("boundary segments quarantined", result["partial_segments"]["quarantined"]),
    ]
    lines = [
        "# Power cuts in a VM",
        "",
        ""
        if result["complete"]
        else "**Incomplete run**: stopped before the last round or before the outbox drained.\n",
        f"{result['date']}, {result['accelerator']}, seed {result['seed']}, cut "
        f"{result['cut_window_seconds'][0]}-{result['cut_window_seconds'][1]} s after both "
        "cameras record. Written by tests/bench/bench_powercut.py.",
        "",
        "| measure | value |",
        "| --- | --- |",
        *[f"| {name} | {value} |" for name, value in rows],
        "",
    ]
    return "\n".join(lines)


def write_results(result: dict[str, Any]) -> None:
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "powercut.json").write_text(json.dumps(result, indent=2) + "\n")
    (RESULTS / "powercut.md").write_text(markdown(result))


def main() -> int:
    args = parse_args()
    # SIGTERM unwinds like Ctrl-C: the rig kills its VM, cameras and head office, and the
    # rounds done so far are already written.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    rounds: list[Round] = []
    with (
        tempfile.TemporaryDirectory(prefix="bench-powercut-") as tmp,
        PowercutRig(Path(tmp), seed) as rig,
    ):
        rig.start_recording()
        for number in range(1, args.rounds + 1):
            started = time.monotonic()
            round_ = rig.cut_round(number, args.min_cut, args.max_cut)
            rounds.append(round_)
            log.info(
                "round %d in %.0f s: gap %.1f s, lost %d, unplayable %d, problems %s",
                number,
                time.monotonic() - started,
                round_.gap_s,
                round_.indexed_segments_lost,
                round_.unplayable_unquarantined,
                round_.problems,
            )
            # Written after every round: a run stopped early still leaves its numbers.
            write_results(summarise(rounds, None, rig, args))
        result = summarise(rounds, rig.drain_reports(), rig, args)
    write_results(result)
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
