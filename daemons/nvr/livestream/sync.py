"""Keeping mediamtx's paths equal to the enabled cameras.

The plan compares only the keys we own before changing anything, because changing a path
recreates it and drops everybody watching it (see docs/design/livestream.md, invariant 2).
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from nvr.core.camera_media import reading_transport
from nvr.core.config import CameraConfig, Config
from nvr.livestream.constants import RESERVED_PATHS
from nvr.livestream.mediamtx import MediamtxClient

log = logging.getLogger(__name__)

PathSettings = dict[str, Any]


@dataclass(frozen=True)
class SyncPlan:
    """What must change in mediamtx: paths to add, to patch and to delete."""

    add: dict[str, PathSettings] = field(default_factory=dict)
    patch: dict[str, PathSettings] = field(default_factory=dict)
    delete: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        """True when mediamtx already matches the cameras."""
        return not (self.add or self.patch or self.delete)


def wanted_paths(config: Config, conn: sqlite3.Connection) -> dict[str, PathSettings]:
    """One path per enabled camera, named after its id, pulling from the camera.

    A single-session camera (`sessions: 1`) is not pulled: its one session is the
    recorder's, which publishes the stream to this path (backup/liveshare.py).
    """
    return {
        camera.id: (
            _shared_path() if camera.live_via_recorder else _pulled_path(config, camera, conn)
        )
        for camera in config.enabled_cameras
    }


def _pulled_path(config: Config, camera: CameraConfig, conn: sqlite3.Connection) -> PathSettings:
    # The recorder's transport, configured or learned (issue 17): a UDP-only camera
    # answers 461 to a TCP pull, and TCP is what `auto` tries first.
    return {
        "source": camera.url.reveal(),
        "sourceOnDemand": config.livestream.on_demand,
        "rtspTransport": reading_transport(conn, camera, config.recording),
    }


def _shared_path() -> PathSettings:
    # mediamtx refuses on-demand for a path that a client publishes to.
    return {"source": "publisher", "sourceOnDemand": False}


def is_ours(name: str) -> bool:
    """Paths we manage: not the catch-all names and not regular-expression paths."""
    return name not in RESERVED_PATHS and not name.startswith("~")


def plan(wanted: Mapping[str, PathSettings], current: Mapping[str, PathSettings]) -> SyncPlan:
    """The smallest change that makes `current` equal to `wanted`."""
    add = {name: settings for name, settings in wanted.items() if name not in current}
    patch = {
        name: {key: value for key, value in settings.items() if current[name].get(key) != value}
        for name, settings in wanted.items()
        if name in current and any(current[name].get(k) != v for k, v in settings.items())
    }
    delete = tuple(sorted(n for n in current if is_ours(n) and n not in wanted))
    return SyncPlan(add=add, patch=patch, delete=delete)


def apply(client: MediamtxClient, sync: SyncPlan) -> None:
    """Carry out a plan; the first refusal raises (the next pass tries again)."""
    for name in sync.delete:
        log.info("path=%s: camera removed or disabled; deleting the mediamtx path", name)
        client.delete_path(name)
    for name, settings in sync.add.items():
        log.info("path=%s: adding (on demand: %s)", name, settings["sourceOnDemand"])
        client.add_path(name, settings)
    for name, changes in sync.patch.items():
        # Names of the keys only: the values include the camera URL and its password.
        log.info("path=%s: %s changed; updating (its viewers reconnect)", name, sorted(changes))
        client.patch_path(name, changes)


def reconcile(client: MediamtxClient, config: Config, conn: sqlite3.Connection) -> SyncPlan:
    """Read mediamtx's paths, change what differs, return what was done.

    `conn` reads the transports nvr-backup learned (the state file's camera_media).
    """
    sync = plan(wanted_paths(config, conn), client.configured_paths())
    apply(client, sync)
    return sync
