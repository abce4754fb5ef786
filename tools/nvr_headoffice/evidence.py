"""Evidence at head office: the sites' public keys and chain heads, and clip verification.

Status reports carry each site's Ed25519 public key and the newest chain head of every
camera (docs/design/evidence.md). They are stored in the transaction that stores the
report, so a head is anchored exactly when its report is. `verify_clip` checks a clip's
manifest against them (`nvr-headoffice verify`, `POST /api/verify`).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from nvr.core.identity import ALGORITHM, key_id
from nvr.core.manifest import Anchor, Verdict, verify_manifest
from nvr.core.timeutil import format_ms
from nvr_headoffice.engines import Conn

# Appended to the report database's migrations (nvr_headoffice.store).
MIGRATION = """
-- Public keys a site registered in its status reports (key id = sha256(key)[:16]).
CREATE TABLE site_keys (
    site_id          TEXT    NOT NULL,
    key_id           TEXT    NOT NULL,
    public_key       TEXT    NOT NULL,           -- base64 of the 32-byte Ed25519 key
    first_seen_at_ms INTEGER NOT NULL,
    last_seen_at_ms  INTEGER NOT NULL,
    PRIMARY KEY (site_id, key_id)
);
-- Chain heads as received: the anchors a clip's chain must meet.
CREATE TABLE chain_heads (
    site_id        TEXT    NOT NULL,
    camera         TEXT    NOT NULL,
    segment_id     INTEGER NOT NULL,
    chain_sha256   TEXT    NOT NULL,
    start          TEXT    NOT NULL,             -- the segment's start, as the site wrote it
    received_at_ms INTEGER NOT NULL,
    report_id      TEXT    NOT NULL,
    PRIMARY KEY (site_id, camera, segment_id, chain_sha256)
);
"""
SHA256_HEX = re.compile(r"[0-9a-f]{64}")
MAX_CAMERA_CHARS = 64
PUBLIC_KEY_BYTES = 32


def _public_key(value: Any) -> tuple[str, str] | None:
    """(key id, base64 key) from a report's `evidence.public_key`, or None if unusable."""
    if not isinstance(value, dict) or value.get("algorithm") != ALGORITHM:
        return None
    text = value.get("public_key")
    if not isinstance(text, str):
        return None
    try:
        raw = base64.b64decode(text, validate=True)
    except binascii.Error:
        return None
    # The id is ours to compute: a report cannot name a key by another key's id.
    return (key_id(raw), text) if len(raw) == PUBLIC_KEY_BYTES else None


def _heads(value: Any) -> list[tuple[str, int, str, str]]:
    """(camera, segment id, chain, start) of each well-formed head in `chain_heads`."""
    if not isinstance(value, list):
        return []
    heads = []
    for head in value:
        if not isinstance(head, dict):
            continue
        camera, segment_id = head.get("camera"), head.get("segment_id")
        chain, start = head.get("chain_sha256"), head.get("start")
        if (
            isinstance(camera, str)
            and 0 < len(camera) <= MAX_CAMERA_CHARS
            and type(segment_id) is int
            and isinstance(chain, str)
            and SHA256_HEX.fullmatch(chain)
            and isinstance(start, str)
        ):
            heads.append((camera, segment_id, chain, start[:40]))
    return heads


def note_evidence(
    conn: Conn, site_id: str, reports: Sequence[tuple[str, dict[str, Any]]], received_ms: int
) -> None:
    """Store the public keys and chain heads new reports (id, body) carry, in their transaction.

    Two statements for a whole batch, not two per report: each key once (they share one
    receive time, so one upsert per key says what one per report would), every head at once.
    """
    keys: dict[str, str] = {}
    heads: list[tuple[str, str, int, str, str, int, str]] = []
    for report_id, body in reports:
        evidence = body.get("evidence")
        if not isinstance(evidence, dict):
            continue
        key = _public_key(evidence.get("public_key"))
        if key is not None:
            keys.setdefault(key[0], key[1])
        heads.extend(
            (site_id, camera, segment_id, chain, start, received_ms, report_id)
            for camera, segment_id, chain, start in _heads(evidence.get("chain_heads"))
        )
    conn.executemany(
        "INSERT INTO site_keys (site_id, key_id, public_key, first_seen_at_ms,"
        " last_seen_at_ms) VALUES (?, ?, ?, ?, ?) ON CONFLICT (site_id, key_id)"
        " DO UPDATE SET last_seen_at_ms = CASE WHEN excluded.last_seen_at_ms"
        " > site_keys.last_seen_at_ms THEN excluded.last_seen_at_ms"
        " ELSE site_keys.last_seen_at_ms END",
        [(site_id, key, text, received_ms, received_ms) for key, text in keys.items()],
    )
    conn.executemany(
        "INSERT INTO chain_heads (site_id, camera, segment_id, chain_sha256, start,"
        " received_at_ms, report_id) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        heads,
    )


def site_keys(conn: Conn, site_id: str) -> dict[str, str]:
    """Key id -> base64 public key, every key the site registered."""
    rows = conn.execute("SELECT key_id, public_key FROM site_keys WHERE site_id = ?", (site_id,))
    return {row[0]: row[1] for row in rows.fetchall()}


def chain_heads(
    conn: Conn, site_id: str, camera: str, ids: Sequence[int]
) -> dict[int, list[Anchor]]:
    """Heads received for `camera` whose segment id is among `ids`."""
    if not ids:
        return {}
    rows = conn.execute(
        "SELECT segment_id, chain_sha256, received_at_ms FROM chain_heads WHERE site_id = ?"
        " AND camera = ? AND segment_id BETWEEN ? AND ?",
        (site_id, camera, min(ids), max(ids)),
    ).fetchall()
    wanted = set(ids)
    heads: dict[int, list[Anchor]] = defaultdict(list)
    for segment_id, chain, received_at_ms in rows:
        if segment_id in wanted:
            heads[segment_id].append(Anchor(chain, received_at_ms))
    return dict(heads)


def site_evidence(conn: Conn, site_id: str) -> dict[str, Any]:
    """The keys a site registered and the newest head received per camera, for the API."""
    keys = conn.execute(
        "SELECT key_id, public_key, first_seen_at_ms, last_seen_at_ms FROM site_keys"
        " WHERE site_id = ? ORDER BY first_seen_at_ms",
        (site_id,),
    ).fetchall()
    rows = conn.execute(
        "SELECT camera, segment_id, start, chain_sha256, received_at_ms FROM chain_heads"
        " h WHERE site_id = ? AND segment_id = (SELECT max(segment_id) FROM chain_heads"
        " WHERE site_id = h.site_id AND camera = h.camera)"
        " ORDER BY camera, received_at_ms DESC, chain_sha256",
        (site_id,),
    ).fetchall()
    # The newest head of each camera's newest segment: the first row per camera.
    heads = [row for i, row in enumerate(rows) if i == 0 or rows[i - 1][0] != row[0]]
    return {
        "keys": [
            {
                "key_id": row[0],
                "public_key": row[1],
                "first_seen_at": format_ms(row[2]),
                "last_seen_at": format_ms(row[3]),
            }
            for row in keys
        ],
        "chain_heads": [
            {
                "camera": row[0],
                "segment_id": row[1],
                "start": row[2],
                "chain_sha256": row[3],
                "received_at": format_ms(row[4]),
            }
            for row in heads
        ],
    }


def _link_ids(manifest: Any) -> list[int]:
    """The segment ids of the manifest's chain links ([] when it has none usable)."""
    try:
        return [int(link[0]) for link in manifest["chain"]["links"]]
    except (KeyError, TypeError, ValueError, IndexError):
        return []


def verify_clip(conn: Conn, manifest: Any, clip_sha256: str) -> Verdict:
    """The verdict on a clip (by its sha256) and its manifest, against what the site sent."""
    site = manifest.get("site") if isinstance(manifest, dict) else None
    camera = manifest.get("camera") if isinstance(manifest, dict) else None
    if not isinstance(site, str) or not isinstance(camera, str):
        return verify_manifest(manifest, clip_sha256, {}, {})
    keys = site_keys(conn, site)
    if not keys:
        return Verdict().refuse(f"site {site[:64]!r} has registered no key here")
    heads = chain_heads(conn, site, camera, _link_ids(manifest))
    return verify_manifest(manifest, clip_sha256, keys, heads)
