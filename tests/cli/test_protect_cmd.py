"""`nvrctl protect`: what a technician types to keep evidence, and what it answers."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from nvr.cli import protect_cmd
from nvr.core.state import now_ms
from nvr.core.timeutil import format_local, format_ms
from nvr.hddmon.errors import ProtectionError
from nvrtest.recordings import HOUR_MS, SEGMENT_MS, add_segment, events, make_env

pytestmark = pytest.mark.timeout(60)


def nvrctl(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="nvrctl")
    protect_cmd.add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


def test_protect_list_and_release(
    tmp_path: Path, recordings: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = make_env(tmp_path, recordings)
    start = now_ms() - 2 * HOUR_MS
    for i in range(10):
        add_segment(env.store, recordings, "cam01", start + i * SEGMENT_MS, 1000)
    config = str(env.config_path)
    from_text = format_ms(start + 2 * SEGMENT_MS)
    to_text = format_ms(start + 5 * SEGMENT_MS)

    code = nvrctl(
        ["protect", "--config", config, "--camera", "cam01", "--camera", "cam02",
         "--from", from_text, "--to", to_text, "--reason", "incident 4711"]
    )  # fmt: skip

    assert code == 0
    out = capsys.readouterr().out.splitlines()
    # Segments 1..5 overlap [2, 5] minutes (1 ends where 2 starts).
    # Printed in local time with the zone; what the range holds follows (issue 24).
    local_from = format_local(start + 2 * SEGMENT_MS)
    local_to = format_local(start + 5 * SEGMENT_MS)
    assert out[0] == (
        f"protected #1 camera=cam01 {local_from} .. {local_to}: "
        "5 segments (5.0 kB), reason: incident 4711"
    )
    assert out[1] == "  holds 180.0 s of the 180 s asked for"
    assert out[2].startswith("protected #2 camera=cam02")
    assert out[3].startswith("  holds 0.0 s of the 180 s asked for: not in it: not recording 180 s")
    assert [e["camera"] for e in events(env.store, "evidence_protected")] == ["cam01", "cam02"]

    assert nvrctl(["protect", "--config", config, "--list"]) == 0
    assert capsys.readouterr().out.count("reason: incident 4711") == 2

    assert nvrctl(["protect", "--config", config, "--release", "2"]) == 0
    assert capsys.readouterr().out.startswith("released #2 camera=cam02")
    nvrctl(["protect", "--config", config, "--list"])
    assert "camera=cam02" not in capsys.readouterr().out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--camera", "cam07", "--from=-2h", "--to=-1h", "--reason", "x"],
         "unknown camera 'cam07': not in the config nor in the index"),
        (["--camera", "cam01", "--from=-1h", "--to=-2h", "--reason", "x"],
         "--to must be after --from"),
        (["--camera", "cam01", "--from=-1h", "--to", "now"],
         "protect needs --reason (or --list / --release)"),
        (["--camera", "cam01", "--camera", "cam07", "--from=-1h", "--to", "now",
          "--reason", "x"], "unknown camera 'cam07'"),
    ],
)  # fmt: skip
def test_bad_requests_are_refused_with_one_line_and_protect_nothing(
    tmp_path: Path, recordings: Path, extra: list[str], message: str
) -> None:
    env = make_env(tmp_path, recordings)
    with pytest.raises(ProtectionError, match=re.escape(message)):
        nvrctl(["protect", "--config", str(env.config_path), *extra])
    assert env.store.read().execute("SELECT COUNT(*) FROM protections").fetchone()[0] == 0
