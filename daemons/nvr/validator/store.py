"""Writing results: validation rows, baselines, events on a change of state, snapshots.

All rows of one check share `checked_at_ms`; the latest check of a camera is the set of
rows with its largest `checked_at_ms` (see docs/design/validation.md, invariant 2).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import cv2

from nvr.core.durable import write_atomically
from nvr.core.state import StateStore, now_ms
from nvr.core.tables.events import Severity, record_event
from nvr.core.tables.recordings import file_sha256
from nvr.core.tables.uploads import (
    SNAPSHOT_SPOOL,
    BucketTarget,
    ObjectRef,
    UploadKind,
    enqueue,
    spool_name,
    spool_path,
)
from nvr.validator import constants as c
from nvr.validator.picture import Baseline, Mode
from nvr.validator.results import CameraReport, Status

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CameraState:
    """A camera's last verdict, for the STATUS line and to notice changes."""

    status: Status
    problem: str
    reason: str


def save_report(store: StateStore, report: CameraReport) -> None:
    """Insert one row per check of `report`, in one transaction."""
    rows = [
        (
            report.camera,
            str(r.check),
            str(r.status),
            r.reason,
            json.dumps(r.values),
            report.checked_at_ms,
        )
        for r in report.results
    ]
    with store.write() as conn:
        conn.executemany(
            "INSERT INTO validations (camera, check_name, status, reason, values_json,"
            " checked_at_ms) VALUES (?, ?, ?, ?, ?, ?)",
            rows,
        )


def load_states(store: StateStore) -> dict[str, CameraState]:
    """Every camera's verdict of its latest check (after a restart)."""
    rows = store.read().execute(
        "SELECT v.camera, v.status, v.reason FROM validations v JOIN"
        " (SELECT camera, MAX(checked_at_ms) AS t FROM validations GROUP BY camera) last"
        " ON v.camera = last.camera AND v.checked_at_ms = last.t"
    )
    rank = {Status.OK: 0, Status.WARN: 1, Status.FAIL: 2}
    states: dict[str, CameraState] = {}
    for camera, status_text, reason in rows:
        status = Status(status_text)
        known = states.get(camera)
        if known is None or rank[status] > rank[known.status]:
            states[camera] = CameraState(status, "", reason)
    return states


def load_baselines(store: StateStore) -> dict[str, dict[Mode, Baseline]]:
    """Every camera's learned baselines, per picture mode."""
    rows = store.read().execute(
        "SELECT camera, mode, sharpness, detail, samples, overlay_tiles"
        " FROM validator_mode_baselines"
    )
    baselines: dict[str, dict[Mode, Baseline]] = {}
    for camera, mode_text, sharpness, detail, samples, overlay in rows:
        mode = Mode(mode_text)
        tiles = frozenset(int(t) for t in json.loads(overlay))
        baselines.setdefault(camera, {})[mode] = Baseline(sharpness, detail, samples, mode, tiles)
    return baselines


def save_baseline(store: StateStore, camera: str, baseline: Baseline) -> None:
    """Upsert a camera's baseline of one mode."""
    with store.write() as conn:
        conn.execute(
            "INSERT INTO validator_mode_baselines (camera, mode, sharpness, detail, samples,"
            " overlay_tiles, updated_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (camera, mode) DO UPDATE SET sharpness = excluded.sharpness,"
            " detail = excluded.detail, samples = excluded.samples,"
            " overlay_tiles = excluded.overlay_tiles, updated_at_ms = excluded.updated_at_ms",
            (
                camera,
                str(baseline.mode),
                baseline.sharpness,
                baseline.detail,
                baseline.samples,
                json.dumps(sorted(baseline.overlay)),
                now_ms(),
            ),
        )


def went_bad(report: CameraReport, before: CameraState | None) -> bool:
    """True when this check is worth a camera_invalid event: ok -> fail, or a new problem."""
    if report.status is not Status.FAIL:
        return False
    if before is None or before.status is not Status.FAIL:
        return True
    # After a restart the previous problem word is unknown (''): only ok -> fail counts.
    return before.problem not in ("", report.problem)


def note_change(
    store: StateStore,
    report: CameraReport,
    before: CameraState | None,
    image: ObjectRef | None = None,
) -> CameraState:
    """Record an event when the camera went from ok to failing, or back; return the state.

    `image` is the bad picture queued for MinIO: its `bucket/key` goes into the event as
    `minio_image_path`, which the HSE alarm carries.
    """
    state = CameraState(report.status, report.problem, report.reason)
    was_failing = before is not None and before.status is Status.FAIL
    if went_bad(report, before):
        data = {"problem": state.problem}
        if image is not None:
            data["minio_image_path"] = image.path
        record_event(
            store,
            source=c.DAEMON_NAME,
            severity=Severity.CRITICAL,
            kind="camera_invalid",
            camera=report.camera,
            message=f"camera={report.camera} {state.problem}: {state.reason}",
            data=data,
        )
    elif state.status is not Status.FAIL and was_failing:
        previous = before.problem if before is not None else ""
        record_event(
            store,
            source=c.DAEMON_NAME,
            severity=Severity.INFO,
            kind="camera_valid",
            camera=report.camera,
            message=f"camera={report.camera} valid again (was {previous or 'failing'})",
        )
    return state


def spool_snapshot(
    store: StateStore,
    state_file: Path,
    target: BucketTarget,
    camera: str,
    snapshot: Path,
    at_ms: int,
) -> ObjectRef:
    """Queue an immutable copy of `snapshot` (last_bad.jpg is overwritten each check).

    The copy is on disk before its row is committed (docs/design/objects.md, invariant 2);
    nvr-uplink deletes it once uploaded.
    """
    name = spool_name(at_ms, ".jpg")
    path = spool_path(state_file, SNAPSHOT_SPOOL, camera, name)
    write_atomically(path, snapshot.read_bytes())
    ref = target.ref(camera, at_ms, name)
    with store.write() as conn:
        enqueue(
            conn,
            ref,
            path,
            UploadKind.SNAPSHOT,
            camera=camera,
            sha256=file_sha256(path),
            owned=True,
            start_ms=at_ms,
            end_ms=at_ms,
        )
    return ref


def snapshot_path(state_file: Path, camera: str, good: bool) -> Path:
    """`<state dir>/snapshots/<camera>/last_good.jpg` or `last_bad.jpg`."""
    name = "last_good.jpg" if good else "last_bad.jpg"
    return state_file.parent / "snapshots" / camera / name


def save_snapshot(state_file: Path, report: CameraReport) -> Path | None:
    """Write the report's frame as JPEG atomically (temp file, fsync, rename)."""
    if report.snapshot is None:
        return None
    path = snapshot_path(state_file, report.camera, report.status is not Status.FAIL)
    path.parent.mkdir(parents=True, exist_ok=True)
    ok, jpeg = cv2.imencode(
        ".jpg", report.snapshot, [cv2.IMWRITE_JPEG_QUALITY, c.SNAPSHOT_JPEG_QUALITY]
    )
    if not ok:
        log.warning("camera=%s: snapshot could not be encoded", report.camera)
        return None
    write_atomically(path, jpeg.tobytes())
    return path
