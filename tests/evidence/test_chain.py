"""The hash chain survives retention, protections and quarantine; tampering is still found."""

from __future__ import annotations

import json
import math
import os
import stat
import subprocess
from pathlib import Path

import pytest

from nvr.core.state import now_ms
from nvr.core.timeutil import format_ms
from nvr.hddmon.janitor import Janitor
from nvr_headoffice.store import ReportStore

from .helpers import HEADOFFICE, Box

pytestmark = pytest.mark.timeout(60)
MINUTE_MS = 60_000
DAY_MS = 86_400_000


def retention(box: Box, cutoff_ms: int) -> None:
    """One retention pass of the real janitor."""
    janitor = Janitor(box.store, box.recordings, now_ms)
    janitor.apply_retention({"cam01": cutoff_ms}, deadline=math.inf)


def test_retention_around_protected_and_quarantined_segments_verifies(tmp_path: Path) -> None:
    box = Box(tmp_path)
    old = now_ms() - 10 * DAY_MS
    old_rows = [box.add(old + i * MINUTE_MS, os.urandom(2000)) for i in range(8)]
    recent = now_ms() - 30 * MINUTE_MS
    kept_first = box.add(recent, os.urandom(2000))
    quarantined = box.add(recent + MINUTE_MS, os.urandom(1500), status="quarantined")
    kept = [box.add(recent + (2 + i) * MINUTE_MS, os.urandom(2000)) for i in range(2)]
    # Evidence in the middle of the old run: the janitor deletes around it.
    protect = box.nvrctl(
        "protect", "--camera", "cam01", "--from", format_ms(old + 3 * MINUTE_MS + 1000),
        "--to", format_ms(old + 4 * MINUTE_MS + 1000), "--reason", "incident 4711",
    )  # fmt: skip
    assert protect.returncode == 0, protect.stderr

    retention(box, now_ms() - DAY_MS)

    remaining = {row[0] for row in box.store.read().execute("SELECT path FROM segments")}
    assert remaining == {p for _, p in [old_rows[3], old_rows[4], kept_first, quarantined, *kept]}
    result = box.nvrctl("recordings", "verify", "--camera", "cam01")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    # The one before the protected run (the link it follows from), and the run after it.
    assert any(line.startswith(f"{old_rows[2][1]}: deleted by retention at ") for line in lines)
    after = f"{old_rows[5][1]} .. {old_rows[7][1]}: 3 segments deleted by retention at "
    assert any(line.startswith(after) for line in lines), lines
    assert f"{quarantined[1]}: quarantined: unreadable when indexed" in lines
    assert "altered" not in result.stdout and "broken" not in result.stdout
    assert lines[-1].startswith("cam01: every segment matches the index and the hash chain")

    # A real alteration is still found, next to the deletions.
    victim = box.recordings / kept[0][1]
    data = bytearray(victim.read_bytes())
    data[100] ^= 0x01
    victim.write_bytes(bytes(data))
    altered = box.nvrctl("recordings", "verify", "--camera", "cam01")
    assert altered.returncode == 1
    assert f"{kept[0][1]}: content altered: sha256 differs from the index" in altered.stdout
    assert altered.stdout.count("content altered") == 1


def test_a_row_removed_behind_the_janitors_back_breaks_the_chain(tmp_path: Path) -> None:
    box = Box(tmp_path)
    start = now_ms() - 60 * MINUTE_MS
    rows = [box.add(start + i * MINUTE_MS, os.urandom(1000)) for i in range(5)]
    with box.store.write() as conn:
        conn.execute("DELETE FROM segments WHERE id = ?", (rows[2][0],))
    (box.recordings / rows[2][1]).unlink()
    result = box.nvrctl("recordings", "verify", "--camera", "cam01")
    assert result.returncode == 1
    assert f"{rows[3][1]}: chain link broken: index rows were altered or removed" in result.stdout


def test_the_chain_goes_on_after_every_segment_was_deleted(tmp_path: Path) -> None:
    box = Box(tmp_path)
    old = now_ms() - 10 * DAY_MS
    for i in range(3):
        box.add(old + i * MINUTE_MS, os.urandom(1000))
    retention(box, now_ms() - DAY_MS)
    assert box.store.read().execute("SELECT count(*) FROM segments").fetchone()[0] == 0
    # The camera records again: its new segment links to the deleted head, not to genesis.
    box.add(now_ms() - MINUTE_MS, os.urandom(1000))
    result = box.nvrctl("recordings", "verify", "--camera", "cam01")
    assert result.returncode == 0, result.stdout
    tombstones = box.store.read().execute("SELECT count(*) FROM segment_tombstones").fetchone()
    assert tombstones[0] == 1, "older tombstones are pruned; the one the chain needs is kept"


def test_identity_init_and_show(tmp_path: Path) -> None:
    box = Box(tmp_path)
    created = box.nvrctl("identity", "init")
    assert created.returncode == 0, created.stderr
    key_file = tmp_path / "state" / "box-ed25519.key"
    assert created.stdout.startswith(f"box key {key_file} created; key id ")
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    again = box.nvrctl("identity", "init")
    assert "exists" in again.stdout and again.stdout.split()[-1] == created.stdout.split()[-1]
    shown = json.loads(box.nvrctl("identity", "show").stdout)
    assert shown["algorithm"] == "ed25519" and shown["key_id"] == created.stdout.split()[-1]
    assert "PRIVATE" not in json.dumps(shown)


def test_verify_at_head_office_with_unreadable_input_says_so_in_one_line(tmp_path: Path) -> None:
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"not a clip")
    manifest = tmp_path / "clip.mp4.manifest.json"
    manifest.write_text("{not json")
    database = tmp_path / "ho.db"

    def verify() -> subprocess.CompletedProcess[str]:
        argv = [HEADOFFICE, "verify", str(clip), str(manifest), "--database", str(database)]
        return subprocess.run(argv, capture_output=True, text=True, check=False)

    missing = verify()
    assert missing.returncode == 1
    assert missing.stderr == f"nvr-headoffice: error: database {database} does not exist\n"
    ReportStore.open(database)
    garbled = verify()
    assert garbled.returncode == 1 and len(garbled.stderr.splitlines()) == 1
    assert garbled.stderr.startswith(f"nvr-headoffice: error: manifest {manifest}: cannot read")
