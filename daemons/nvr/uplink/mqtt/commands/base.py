"""What every action shares: its context, its outcome, argument checks, waiting for uploads.

An action is checked once (`check`, on arrival: a refusal is final) and then stepped by
the runner until it returns an Outcome (`step`). A step does one thing and records it in
the command's progress in the same transaction as its side effect, so a restart resumes
where the previous process stopped (docs/design/commands.md, invariant 5).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from nvr.core.config import Config
from nvr.core.config.cameras import CameraConfig
from nvr.core.config.uplink import MinioConfig
from nvr.core.errors import NvrError
from nvr.core.state import StateStore
from nvr.core.tables.uploads import UploadState
from nvr.uplink.mqtt.commands.constants import DONE, FAILED
from nvr.uplink.mqtt.commands.journal import Stored
from nvr.uplink.mqtt.commands.wire import Command


class ActionFailed(NvrError):
    """An accepted command could not be carried out (one line, published as its error)."""


@dataclass(frozen=True)
class Context:
    """What actions need from the daemon: the config and where spool files go."""

    config: Config

    @property
    def state_file(self) -> Path:
        """The state file; spool files live below its directory."""
        return self.config.storage.state_file


@dataclass(frozen=True)
class Outcome:
    """How a command ended: done with a result, or failed with an error."""

    state: str
    result: dict[str, Any] | None = None
    error: str | None = None

    @classmethod
    def done(cls, result: dict[str, Any]) -> Outcome:
        """Finished as asked."""
        return cls(DONE, result=result)

    @classmethod
    def failed(cls, error: str) -> Outcome:
        """Accepted, but could not be carried out."""
        return cls(FAILED, error=error)


@dataclass(frozen=True)
class Plan:
    """An accepted command: its initial progress, and what the `accepted` message says."""

    progress: dict[str, Any]
    notes: dict[str, Any]


class Action(Protocol):
    """One kind of command."""

    name: str

    def check(self, command: Command, ctx: Context, conn: sqlite3.Connection, now_ms: int) -> Plan:
        """Validate the args against the site; raises Refusal."""
        ...

    def step(self, store: StateStore, ctx: Context, stored: Stored, now_ms: int) -> Outcome | None:
        """Do the next piece of work; None while there is more to do or to wait for."""
        ...


def expect_args(command: Command, names: tuple[str, ...]) -> None:
    """Refuse missing or unknown arguments, naming them."""
    missing = [name for name in names if name not in command.args]
    if missing:
        raise command.refuse(f"missing argument {missing[0]!r}")
    unknown = sorted(set(command.args) - set(names))
    if unknown:
        takes = f"takes {', '.join(names)}" if names else "takes no arguments"
        raise command.refuse(f"unknown argument {unknown[0][:32]!r} ({takes})")


def camera_arg(command: Command, ctx: Context, *, live: bool) -> CameraConfig:
    """The configured camera the command names; `live` ones must also be enabled."""
    camera_id = command.args.get("camera")
    if not isinstance(camera_id, str):
        raise command.refuse("camera must be a camera id string")
    camera = ctx.config.camera(camera_id)
    if camera is None:
        raise command.refuse(f"unknown camera {camera_id[:64]!r}")
    if live and not camera.enabled:
        raise command.refuse(f"camera {camera_id} is disabled in the config")
    return camera


def minio_settings(command: Command, ctx: Context, what: str) -> MinioConfig:
    """The MinIO settings; refused when there is nowhere to upload `what`."""
    minio = ctx.config.uplink.minio
    if minio is None:
        raise command.refuse(f"MinIO is not configured (uplink.minio): nowhere to upload {what}")
    return minio


def upload_outcome(
    conn: sqlite3.Connection, bucket: str, key: str, result: dict[str, Any]
) -> Outcome | None:
    """Done with `result` once the upload landed; failed if it was lost; else still waiting.

    There is no deadline: a WAN outage only delays the upload (the row and the spool file
    wait for it), and a restart resumes the wait.
    """
    row = conn.execute(
        "SELECT state, last_error FROM uploads WHERE bucket = ? AND object_key = ?",
        (bucket, key),
    ).fetchone()
    if row is None:
        return Outcome.failed(f"upload of {bucket}/{key} is no longer queued")
    if row[0] == UploadState.DONE:
        return Outcome.done(result)
    if row[0] == UploadState.LOST:
        return Outcome.failed(f"upload of {bucket}/{key} was lost: {row[1] or 'no reason given'}")
    return None
