"""Exported clips come with a signed manifest that head office verifies against anchored heads.

Real parts: ffmpeg cuts the segments and exports the clip, nvrctl exports and signs,
nvr-report's own status body carries the heads, a real nvr-headoffice stores them and
`nvr-headoffice verify` (and POST /api/verify) judge the clip.
"""

from __future__ import annotations

import hashlib
import json
import math
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from nvr.core.config import load_config
from nvr.core.identity import load_identity
from nvr.core.manifest import sign_manifest
from nvr.core.state import now_ms
from nvr.core.tables.protections import insert_protection
from nvr.core.tables.recordings import chain_hash
from nvr.core.timeutil import format_local, format_ms
from nvr.core.tools import require_tool
from nvr.hddmon.janitor import Janitor
from nvr.report.build import enqueue_status
from nvrtest.headoffice import BOTH_ENGINES, OTHER_SECRET, OTHER_SITE, SITE, HeadOffice

from .helpers import HEADOFFICE, SEGMENT_SECONDS, Box, make_segments

pytestmark = pytest.mark.timeout(120)
SEGMENT_MS = SEGMENT_SECONDS * 1000
GAP_MS = 20_000


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> list[bytes]:
    """Eight playable 4 s fMP4 segments (made once for the module)."""
    return [p.read_bytes() for p in make_segments(tmp_path_factory.mktemp("media"), 8)]


def record(box: Box, media: list[bytes], base_ms: int) -> list[tuple[int, str]]:
    """Segments 0-2, a 20 s gap (camera offline), then segments 3-7."""
    rows = []
    for i, content in enumerate(media):
        start = base_ms + i * SEGMENT_MS + (GAP_MS if i >= 3 else 0)
        rows.append(box.add(start, content, duration_ms=SEGMENT_MS))
    return rows


def report_status(box: Box, headoffice: HeadOffice, secret: str | None = None) -> None:
    """nvr-report's status report (chain heads, public key), posted as the uplink would."""
    report = enqueue_status(box.store, load_config(box.config_path), now_ms())
    extra = {"secret": secret} if secret else {}
    answer = headoffice.post([report], site=box.site, **extra)
    assert answer.status_code == 200, answer.text


def recorded_box(
    tmp_path: Path, media: list[bytes], headoffice: HeadOffice
) -> tuple[Box, int, list[tuple[int, str]]]:
    """A box that recorded `record`'s segments from ten minutes ago and reported its heads."""
    box = Box(tmp_path / "box")
    base = now_ms() - 600_000
    rows = record(box, media, base)
    report_status(box, headoffice)
    return box, base, rows


def export(box: Box, output: Path, from_ms: int, to_ms: int, *extra: str) -> str:
    result = box.nvrctl(
        "export", "--camera", "cam01", "--from", format_ms(from_ms), "--to", format_ms(to_ms),
        "-o", str(output), *extra,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout


def verify(headoffice: HeadOffice, clip: Path) -> tuple[int, str]:
    result = subprocess.run(
        [HEADOFFICE, "verify", str(clip), f"{clip}.manifest.json", "--database",
         str(headoffice.database)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    return result.returncode, result.stdout + result.stderr


def duration_s(clip: Path) -> float:
    out = subprocess.run(
        [require_tool("ffprobe"), "-v", "error", "-show_entries", "format=duration",
         "-of", "json", str(clip)],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return float(json.loads(out)["format"]["duration"])


def resign(manifest: Path, box: Box, **changes: Any) -> None:
    """Change fields and sign again with `box`'s own key (an attacker holding that key)."""
    data = {k: v for k, v in json.loads(manifest.read_text()).items() if k != "signature"}
    data.update(changes)
    identity = load_identity(box.store.path)
    manifest.write_text(json.dumps(sign_manifest(data, identity)))


@BOTH_ENGINES  # keys, chain heads and verification on PostgreSQL too (issue 22)
def test_a_clip_across_a_gap_verifies_and_each_tampering_is_refused(
    tmp_path: Path, media: list[bytes], start_headoffice: Callable[..., HeadOffice]
) -> None:
    headoffice = start_headoffice()
    box, base, rows = recorded_box(tmp_path, media, headoffice)
    stored = headoffice.get(f"/api/sites/{SITE}/evidence").json()
    assert [h["segment_id"] for h in stored["chain_heads"]] == [rows[-1][0]]
    assert [k["key_id"] for k in stored["keys"]] == [load_identity(box.store.path).key_id]

    # Across the gap: the gap is printed and listed, and the clip stops at --to.
    clip = tmp_path / "clip.mp4"
    to_ms = base + 5 * SEGMENT_MS + GAP_MS  # the end of segment 4
    out = export(box, clip, base + 1000, to_ms)
    gap_start, gap_end = base + 3 * SEGMENT_MS, base + 3 * SEGMENT_MS + GAP_MS
    gap_text = f"gap {format_local(gap_start)} → {format_local(gap_end)} (20s): not recording"
    assert gap_text in out, out
    # What was exported, in seconds, and why it is shorter than what was asked for.
    asked = (to_ms - base - 1000) / 1000
    summary = (
        f"exported {asked - 20:.1f} s of the {asked:g} s asked for: not in it: not recording 20 s"
    )
    assert summary in out, out
    # The clip just made is not replaced without --force (it may be what was handed over).
    before = clip.read_bytes()
    again = box.nvrctl(
        "export", "--camera", "cam01", "--from", format_ms(base), "--to", format_ms(to_ms),
        "-o", str(clip),
    )  # fmt: skip
    assert again.returncode == 1 and clip.read_bytes() == before
    assert (
        again.stderr.strip() == f"nvrctl: error: {clip} already exists: pass --force to overwrite"
    )
    manifest = json.loads(Path(f"{clip}.manifest.json").read_text())
    assert [g["reason"] for g in manifest["gaps"]] == ["not recording"]
    assert len(manifest["segments"]) == 5 and manifest["site"] == SITE
    recorded_s = (5 * SEGMENT_MS - 1000) / 1000
    assert abs(duration_s(clip) - recorded_s) <= 1.5, "the clip holds the range, not past --to"

    code, text = verify(headoffice, clip)
    assert code == 0, text
    assert text.startswith("verified: clip.mp4") and "anchored at segment" in text
    api = requests.post(
        f"{headoffice.url}/api/verify",
        json={"manifest": manifest, "clip_sha256": hashlib.sha256(clip.read_bytes()).hexdigest()},
        timeout=10,
    )
    assert api.status_code == 200 and api.json()["status"] == "verified", api.text

    # One flipped byte in the clip.
    flipped = tmp_path / "flipped" / "clip.mp4"
    flipped.parent.mkdir()
    data = bytearray(clip.read_bytes())
    data[len(data) // 2] ^= 0x01
    flipped.write_bytes(bytes(data))
    Path(f"{flipped}.manifest.json").write_text(Path(f"{clip}.manifest.json").read_text())
    code, text = verify(headoffice, flipped)
    assert code == 1 and "the clip's sha256 differs from the manifest" in text, text

    # An edited manifest (a segment dropped from it) no longer matches its signature.
    edited = json.loads(Path(f"{clip}.manifest.json").read_text())
    edited["segments"].pop(1)
    Path(f"{clip}.manifest.json").write_text(json.dumps(edited))
    code, text = verify(headoffice, clip)
    assert code == 1 and "the signature does not match site 'smg-01'" in text, text


def test_removed_segment_other_site_and_rewritten_chain_are_refused(
    tmp_path: Path, media: list[bytes], start_headoffice: Callable[..., HeadOffice]
) -> None:
    headoffice = start_headoffice()
    box, base, rows = recorded_box(tmp_path, media, headoffice)
    other = Box(tmp_path / "other", site=OTHER_SITE)
    record(other, media, base)
    report_status(other, headoffice, secret=OTHER_SECRET)
    to_ms = base + 8 * SEGMENT_MS + GAP_MS

    # Another site's genuine clip, relabelled as ours and signed with its own key.
    foreign = tmp_path / "foreign.mp4"
    export(other, foreign, base + 3 * SEGMENT_MS + GAP_MS, to_ms)
    resign(Path(f"{foreign}.manifest.json"), other, site=SITE)
    code, text = verify(headoffice, foreign)
    assert code == 1 and "which site 'smg-01' never registered" in text, text

    # A segment row removed on the box (no tombstone): the box signs, the chain does not hold.
    with box.store.write() as conn:
        conn.execute("DELETE FROM segments WHERE id = ?", (rows[4][0],))
    removed = tmp_path / "removed.mp4"
    export(box, removed, base + 3 * SEGMENT_MS + GAP_MS, to_ms)
    code, text = verify(headoffice, removed)
    assert code == 1 and f"chain broken before segment {rows[5][1]}" in text, text

    # Files and index rewritten together after the head was anchored: the box's own verify
    # is satisfied, head office is not.
    rewrite_from(box, rows[3][0], b"forged video")
    assert box.nvrctl("recordings", "verify", "--camera", "cam01").returncode == 0
    rewritten = tmp_path / "rewritten.mp4"
    export(box, rewritten, base, base + 3 * SEGMENT_MS)
    code, text = verify(headoffice, rewritten)
    assert code == 1 and "the chain does not meet the head received at" in text, text


def rewrite_from(box: Box, first_id: int, forged: bytes) -> None:
    """What someone holding the disk and the state file could do: replace a segment and
    recompute every later hash and link, so that the box's own verify passes."""
    conn = box.store.read()
    rows = conn.execute(
        "SELECT id, path, sha256 FROM segments WHERE camera = 'cam01' ORDER BY id"
    ).fetchall()
    previous = "0" * 64
    with box.store.write() as write:
        for row_id, path, sha in rows:
            if row_id == first_id:
                (box.recordings / path).write_bytes(forged)
                sha = hashlib.sha256(forged).hexdigest()
            previous = chain_hash(previous, sha)
            write.execute(
                "UPDATE segments SET sha256 = ?, chain_sha256 = ? WHERE id = ?",
                (sha, previous, row_id),
            )


def test_split_at_gaps_and_a_clip_newer_than_any_head(
    tmp_path: Path, media: list[bytes], start_headoffice: Callable[..., HeadOffice]
) -> None:
    headoffice = start_headoffice()
    box, base, rows = recorded_box(tmp_path, media, headoffice)

    out = export(
        box, tmp_path / "clip.mp4", base, base + 8 * SEGMENT_MS + GAP_MS, "--split-at-gaps"
    )
    first, second = tmp_path / "clip-1.mp4", tmp_path / "clip-2.mp4"
    assert f"wrote {first} (3 segments, 0 gaps)" in out and f"wrote {second} (5 segments" in out
    assert abs(duration_s(first) - 3 * SEGMENT_SECONDS) <= 1.5
    assert abs(duration_s(second) - 5 * SEGMENT_SECONDS) <= 1.5
    for clip in (first, second):
        code, text = verify(headoffice, clip)
        assert code == 0, text

    # Recorded after the last status report: valid, but nothing anchors it yet.
    late = base + 8 * SEGMENT_MS + GAP_MS
    box.add(late, media[0], duration_ms=SEGMENT_MS)
    newest = tmp_path / "newest.mp4"
    export(box, newest, late, late + SEGMENT_MS)
    code, text = verify(headoffice, newest)
    assert code == 3 and text.startswith("unanchored:"), text
    # An older clip's links stop at the first head a status report carried after it.
    again = tmp_path / "again.mp4"
    export(box, again, base, base + 3 * SEGMENT_MS)
    links = json.loads(Path(f"{again}.manifest.json").read_text())["chain"]["links"]
    assert [link[0] for link in links] == [row[0] for row in rows]
    # The camera records on before the next report; that report still carries the head
    # the manifest reached, so the clip is anchored.
    box.add(late + SEGMENT_MS, media[1], duration_ms=SEGMENT_MS)
    report_status(box, headoffice)
    code, text = verify(headoffice, newest)
    assert code == 0, text


def test_a_clip_across_segments_the_janitor_deleted_names_them_and_verifies(
    tmp_path: Path, media: list[bytes], start_headoffice: Callable[..., HeadOffice]
) -> None:
    headoffice = start_headoffice()
    box, base, rows = recorded_box(tmp_path, media, headoffice)
    first_end = base + 2 * SEGMENT_MS  # segments 0-1 and 7 are evidence
    last_start = base + 7 * SEGMENT_MS + GAP_MS
    with box.store.write() as conn:
        insert_protection(conn, camera="cam01", from_ms=base, to_ms=first_end - 1, reason="a")
        insert_protection(conn, camera="cam01", from_ms=last_start + 1, to_ms=now_ms(), reason="b")
    Janitor(box.store, box.recordings, now_ms).apply_retention({"cam01": now_ms()}, math.inf)
    kept = [row[0] for row in box.store.read().execute("SELECT path FROM segments ORDER BY id")]
    assert kept == [rows[0][1], rows[1][1], rows[7][1]]

    clip = tmp_path / "clip.mp4"
    out = export(box, clip, base, last_start + SEGMENT_MS)
    assert out.count(": deleted by retention at ") == 2, out  # before and after the outage
    manifest = json.loads(Path(f"{clip}.manifest.json").read_text())
    reasons = [gap["reason"] for gap in manifest["gaps"]]
    assert reasons[0].startswith("deleted by retention at ") and len(reasons) == 3
    # The links run through the tombstones to the head reported before the deletion.
    assert [link[0] for link in manifest["chain"]["links"]] == [row[0] for row in rows]
    code, text = verify(headoffice, clip)
    assert code == 0, text
