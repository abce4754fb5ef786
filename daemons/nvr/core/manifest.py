"""Signed clip manifests: what a clip was made of, signed by the box, checkable by anyone.

The box writes one beside every exported clip (`nvrctl export`, `request_clip`); head
office (`nvr-headoffice verify`, `POST /api/verify`) checks it with `verify_manifest`.
Both ends use this module, so they cannot disagree on the canonical form. See
docs/design/evidence.md ("Export" and "Verification").
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nvr.core.chain import (
    NO_LIMIT,
    ChainHead,
    chain_entries,
    first_reported_head,
    link_before,
    note_manifest_head,
)
from nvr.core.durable import write_atomically
from nvr.core.identity import BoxIdentity, signature_valid
from nvr.core.state import StateStore, now_ms
from nvr.core.tables.recordings import Gap, Segment, chain_hash, file_sha256
from nvr.core.timeutil import format_ms

FORMAT = "nvr-clip-manifest/1"
MANIFEST_SUFFIX = ".manifest.json"
REQUIRED_KEYS = (
    "format", "site", "camera", "from_ms", "to_ms", "clip", "segments", "chain", "key", "signature",
)  # fmt: skip

VERIFIED = "verified"
UNANCHORED = "unanchored"
REFUSED = "refused"


def manifest_path(clip: Path) -> Path:
    """`clip.mp4` -> `clip.mp4.manifest.json`, beside it."""
    return clip.with_name(clip.name + MANIFEST_SUFFIX)


def canonical(manifest: Mapping[str, Any]) -> bytes:
    """The signed bytes: the manifest without its signature, sorted keys, no spaces."""
    unsigned = {k: v for k, v in manifest.items() if k != "signature"}
    return json.dumps(unsigned, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


@dataclass(frozen=True)
class ClipSource:
    """What a clip was made of, as the export saw it."""

    site: str
    camera: str
    from_ms: int
    to_ms: int
    segments: Sequence[Segment]
    gaps: Sequence[Gap]


def _chain_section(
    conn: sqlite3.Connection, camera: str, first_id: int, last_id: int
) -> tuple[dict[str, Any], ChainHead]:
    """The links (`[id, sha256]`) from the clip's first segment to a head, and that head.

    They let a verifier carry the chain forward to a head that head office received,
    which fixes every hash of the clip (docs/design/evidence.md, invariant 5). They stop
    at the first head a status report carried after the clip, else at the head now.
    """
    upto = first_reported_head(conn, camera, last_id) or NO_LIMIT
    entries = [
        e for e in chain_entries(conn, camera, after_id=first_id - 1, upto_id=upto) if e.chained
    ]
    last = entries[-1]
    assert last.chain_sha256 is not None
    head = ChainHead(camera, last.id, last.start_ms, last.chain_sha256)
    links = [[entry.id, entry.sha256] for entry in entries]
    return {"prev": link_before(conn, camera, first_id), "links": links}, head


def build_manifest(
    conn: sqlite3.Connection, source: ClipSource, clip: Path
) -> tuple[dict[str, Any], ChainHead]:
    """The unsigned manifest of `clip`, and the chain head its links reach."""
    ids = [seg.id for seg in source.segments]
    chain, head = _chain_section(conn, source.camera, min(ids), max(ids))
    manifest = {
        "format": FORMAT,
        "site": source.site,
        "camera": source.camera,
        "from": format_ms(source.from_ms),
        "to": format_ms(source.to_ms),
        "from_ms": source.from_ms,
        "to_ms": source.to_ms,
        "clip": {"name": clip.name, "bytes": clip.stat().st_size, "sha256": file_sha256(clip)},
        "segments": [
            {
                "id": seg.id,
                "path": seg.path,
                "start": format_ms(seg.start_ms),
                "end": format_ms(seg.end_ms),
                "sha256": seg.sha256,
                "chain_sha256": seg.chain_sha256,
            }
            for seg in source.segments
        ],
        "gaps": [gap.to_json() for gap in source.gaps],
        "chain": chain,
        "head": head.to_json(),
    }
    return manifest, head


def sign_manifest(manifest: dict[str, Any], identity: BoxIdentity) -> dict[str, Any]:
    """The manifest with the box's public key and its signature over the canonical form."""
    signed = {**manifest, "key": identity.public_json()}
    signed["signature"] = identity.sign(canonical(signed))
    return signed


def write_manifest(
    store: StateStore, source: ClipSource, clip: Path, identity: BoxIdentity
) -> Path:
    """Build, sign and durably write the manifest beside `clip`; its path.

    The head it reaches is noted for the next status reports (invariant 4).
    """
    manifest, head = build_manifest(store.read(), source, clip)
    path = manifest_path(clip)
    write_atomically(
        path, (json.dumps(sign_manifest(manifest, identity), indent=1) + "\n").encode()
    )
    with store.write() as conn:
        note_manifest_head(conn, head, now_ms())
    return path


# -- verification (head office) ----------------------------------------------------------
@dataclass
class Verdict:
    """The answer of a verification: verified, unanchored (valid, no head yet) or refused."""

    status: str = VERIFIED
    reasons: list[str] = field(default_factory=list)
    anchor: dict[str, Any] | None = None

    def refuse(self, reason: str) -> Verdict:
        """Mark refused with `reason`; returns self."""
        self.status = REFUSED
        self.reasons.append(reason)
        return self

    def to_json(self) -> dict[str, Any]:
        """`{status, reasons, anchor}`."""
        return {"status": self.status, "reasons": self.reasons, "anchor": self.anchor}


@dataclass(frozen=True)
class Anchor:
    """A chain head head office received from the site: its value and when it came."""

    chain_sha256: str
    received_at_ms: int


def _shape_problem(manifest: Any) -> str | None:
    if not isinstance(manifest, dict):
        return "the manifest is not a JSON object"
    missing = [key for key in REQUIRED_KEYS if key not in manifest]
    if missing:
        return f"the manifest lacks {', '.join(missing)}"
    if manifest["format"] != FORMAT:
        return f"unknown manifest format {str(manifest['format'])[:40]!r}"
    chain, key = manifest["chain"], manifest["key"]
    if not isinstance(chain, dict) or not isinstance(chain.get("links"), list):
        return "the manifest's chain has no links"
    if not isinstance(key, dict) or not isinstance(key.get("key_id"), str):
        return "the manifest names no signing key"
    if not isinstance(manifest["segments"], list) or not manifest["segments"]:
        return "the manifest lists no segments"
    return None


def _recompute(chain: Mapping[str, Any], segments: list[Any]) -> tuple[dict[int, str], str | None]:
    """Chain values by id from `prev` and the links; the first problem found, if any."""
    by_id: dict[int, str] = {}
    stored = {int(seg["id"]): seg for seg in segments}
    previous = chain.get("prev")
    last_id = -1
    for link_id, sha256 in chain["links"]:
        if link_id <= last_id:
            return by_id, f"chain links out of order at segment {link_id}"
        last_id = link_id
        if previous is None:
            # The link before the clip is no longer known on the box: trust the first one.
            previous_value = stored.get(link_id, {}).get("chain_sha256")
            by_id[link_id] = str(previous_value)
        else:
            by_id[link_id] = chain_hash(str(previous), str(sha256))
        previous = by_id[link_id]
        seg = stored.get(link_id)
        if seg is not None and seg["sha256"] != sha256:
            return by_id, f"segment {seg['path']}: its hash differs from its chain link"
    return by_id, None


def _check_chain(manifest: Mapping[str, Any], verdict: Verdict) -> dict[int, str]:
    """Every clip segment is a link, and its stored chain value follows from the links."""
    by_id, problem = _recompute(manifest["chain"], manifest["segments"])
    if problem:
        verdict.refuse(problem)
        return by_id
    for seg in manifest["segments"]:
        value = by_id.get(int(seg["id"]))
        if value is None:
            verdict.refuse(f"segment {seg['path']} is not in the chain the manifest gives")
        elif value != seg["chain_sha256"]:
            verdict.refuse(
                f"chain broken before segment {seg['path']}: a segment was removed or the"
                " index altered"
            )
    return by_id


def _check_anchor(
    by_id: Mapping[int, str], heads: Mapping[int, Sequence[Anchor]], verdict: Verdict
) -> None:
    """The recomputed chain must pass through the heads head office received."""
    for segment_id, value in sorted(by_id.items()):
        received = heads.get(segment_id, ())
        if not received:
            continue
        match = next((head for head in received if head.chain_sha256 == value), None)
        if match is None:
            when = format_ms(min(head.received_at_ms for head in received))
            verdict.refuse(
                f"the chain does not meet the head received at {when} for segment"
                f" {segment_id}: recordings or index were rewritten after that report"
            )
            return
        if verdict.anchor is None:
            verdict.anchor = {
                "segment_id": segment_id,
                "received_at": format_ms(match.received_at_ms),
            }
    if verdict.anchor is None and verdict.status != REFUSED:
        verdict.status = UNANCHORED
        verdict.reasons.append(
            "no chain head received yet at or after this clip: verify again after the"
            " site's next status report"
        )


def verify_manifest(
    manifest: Any,
    clip_sha256: str,
    site_keys: Mapping[str, str],
    heads: Mapping[int, Sequence[Anchor]],
) -> Verdict:
    """Check signature, clip hash, chain links and anchoring, in that order.

    `site_keys`: key id -> base64 public key the manifest's site registered;
    `heads`: segment id -> heads received for the manifest's camera.
    """
    verdict = Verdict()
    problem = _shape_problem(manifest)
    if problem:
        return verdict.refuse(problem)
    site, key = manifest["site"], manifest["key"]
    public = site_keys.get(key["key_id"])
    if public is None:
        return verdict.refuse(
            f"signed with key {key['key_id'][:16]!r}, which site {str(site)[:64]!r} never"
            " registered: a manifest from another site or box"
        )
    if not signature_valid(public, str(manifest["signature"]), canonical(manifest)):
        return verdict.refuse(
            f"the signature does not match site {site!r}'s key: the manifest was altered"
        )
    if manifest["clip"].get("sha256") != clip_sha256:
        return verdict.refuse("the clip's sha256 differs from the manifest: the clip was altered")
    try:
        by_id = _check_chain(manifest, verdict)
    except (KeyError, TypeError, ValueError) as err:
        return verdict.refuse(f"the manifest's chain is malformed ({type(err).__name__})")
    if verdict.status == REFUSED:
        return verdict
    _check_anchor(by_id, heads, verdict)
    return verdict
