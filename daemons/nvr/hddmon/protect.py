"""Protections: time ranges of a camera kept as evidence, never deleted by the janitor.

Written by `nvrctl protect` and by clip requests (the INSERT is in nvr.core.tables.protections);
read by the janitor inside its deletion transaction (docs/design/disk.md, invariant 3).
"""

from __future__ import annotations

from dataclasses import dataclass

from nvr.core.state import StateStore
from nvr.core.tables.events import Severity, record_event
from nvr.core.tables.protections import insert_protection
from nvr.hddmon.constants import SOURCE
from nvr.hddmon.errors import ProtectionError
from nvr.hddmon.index import indexed_cameras

PROTECT_SOURCE = "nvrctl"
MAX_REASON_CHARS = 500


@dataclass(frozen=True)
class Protection:
    """One protected range and what it covers in the index right now."""

    id: int
    camera: str
    from_ms: int
    to_ms: int
    reason: str
    created_at_ms: int
    segments: int = 0
    bytes: int = 0


def add_protection(
    store: StateStore,
    *,
    camera: str,
    from_ms: int,
    to_ms: int,
    reason: str,
    known_cameras: set[str],
) -> Protection:
    """Protect `camera` from `from_ms` to `to_ms`; raises ProtectionError on a bad request.

    A camera counts as known when it is in the config or still has segments in the index
    (evidence from a camera removed since must stay protectable).
    """
    reason = reason.strip()
    if not reason:
        raise ProtectionError("--reason must say why (e.g. an incident number)")
    if len(reason) > MAX_REASON_CHARS:
        raise ProtectionError(f"--reason is longer than {MAX_REASON_CHARS} characters")
    if to_ms <= from_ms:
        raise ProtectionError("--to must be after --from")
    check_cameras(store, [camera], known_cameras)
    with store.write() as conn:
        protection_id, created = insert_protection(
            conn, camera=camera, from_ms=from_ms, to_ms=to_ms, reason=reason
        )
    protection = _with_coverage(
        store, Protection(protection_id, camera, from_ms, to_ms, reason, created)
    )
    record_event(
        store,
        source=PROTECT_SOURCE,
        severity=Severity.INFO,
        kind="evidence_protected",
        camera=camera,
        message=f"protected camera={camera} {protection.segments} segments: {reason}",
        data={"id": protection.id, "from_ms": from_ms, "to_ms": to_ms, "reason": reason},
    )
    return protection


def check_cameras(store: StateStore, cameras: list[str], known_cameras: set[str]) -> None:
    """Raise ProtectionError naming the first camera neither configured nor indexed."""
    indexed: set[str] | None = None
    for camera in cameras:
        if camera in known_cameras:
            continue
        if indexed is None:
            indexed = set(indexed_cameras(store.read()))
        if camera not in indexed:
            raise ProtectionError(f"unknown camera {camera!r}: not in the config nor in the index")


def _with_coverage(store: StateStore, p: Protection) -> Protection:
    row = (
        store.read()
        .execute(
            "SELECT COUNT(*), COALESCE(SUM(bytes), 0) FROM segments"
            " WHERE camera = ? AND start_ms <= ? AND end_ms >= ?",
            (p.camera, p.to_ms, p.from_ms),
        )
        .fetchone()
    )
    return Protection(
        p.id, p.camera, p.from_ms, p.to_ms, p.reason, p.created_at_ms, int(row[0]), int(row[1])
    )


def list_protections(store: StateStore) -> list[Protection]:
    """Every protection with what it covers now, oldest range first."""
    rows = store.read().execute(
        "SELECT id, camera, from_ms, to_ms, reason, created_at_ms FROM protections"
        " ORDER BY from_ms, id"
    )
    return [_with_coverage(store, Protection(*row)) for row in rows.fetchall()]


def release_protection(store: StateStore, protection_id: int) -> Protection:
    """Remove a protection (the janitor may delete the range afterwards)."""
    found = [p for p in list_protections(store) if p.id == protection_id]
    if not found:
        raise ProtectionError(f"no protection with id {protection_id}")
    with store.write() as conn:
        conn.execute("DELETE FROM protections WHERE id = ?", (protection_id,))
    record_event(
        store,
        source=PROTECT_SOURCE,
        severity=Severity.WARNING,
        kind="evidence_released",
        camera=found[0].camera,
        message=f"protection {protection_id} released: {found[0].reason}",
        data={"id": protection_id, "by": SOURCE},
    )
    return found[0]
