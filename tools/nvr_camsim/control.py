"""The files through which a running `nvr-camsim` is seen and steered.

In the run directory:
- `cameras.json` (mode 0600, it holds the passwords): `pid` of the camsim process,
  `rtsp_port`, `mediamtx_api`, and `cameras`, a list of `{"id", "url", "fault"}` with the
  fault each camera shows now. Rewritten after every change.
- `faults.json`: the wanted faults, `{"cam01": null, "cam02": "black", ...}`. The running
  camsim polls it and applies changes; `nvr-camsim fault` edits it. Removed when camsim
  stops cleanly, so its presence (with a live pid) means "running".
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from nvr_camsim.errors import CamsimError
from nvr_camsim.faults import Fault, parse_fault
from nvr_camsim.simulator import CameraSimulator

log = logging.getLogger(__name__)

CAMERAS_FILE = "cameras.json"
FAULTS_FILE = "faults.json"


def write_private_json(path: Path, data: Any) -> None:
    """Write JSON readable by the owner only, atomically (temp file, then rename)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)  # mode 0600
    try:
        with os.fdopen(fd, "w") as out:
            json.dump(data, out, indent=2)
            out.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_json(path: Path) -> Any:
    """Decoded JSON of `path`; CamsimError if missing or malformed."""
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise CamsimError(f"{path} not found") from None
    except (OSError, ValueError) as err:
        raise CamsimError(f"{path} unreadable: {err}") from err


def parse_faults(data: Any, source: Path) -> dict[str, Fault | None]:
    """Validate a faults mapping (camera id -> fault name or null)."""
    if not isinstance(data, dict):
        raise CamsimError(f"{source}: expected an object mapping camera ids to faults")
    faults: dict[str, Fault | None] = {}
    for camera, value in data.items():
        try:
            faults[str(camera)] = None if value is None else parse_fault(str(value))
        except ValueError as err:
            raise CamsimError(f"{source}: {camera}: {err}") from err
    return faults


def fault_names(faults: Mapping[str, Fault | None]) -> dict[str, str | None]:
    """The JSON form of a faults mapping."""
    return {camera: (fault.value if fault else None) for camera, fault in faults.items()}


def saved_passwords(run_dir: Path) -> dict[str, str]:
    """Passwords from an earlier run's cameras.json, so camera URLs survive a restart."""
    try:
        cameras = read_json(run_dir / CAMERAS_FILE).get("cameras", [])
        return {c["id"]: urlsplit(c["url"]).password or "" for c in cameras}
    except (CamsimError, AttributeError, KeyError, TypeError):
        return {}


class FaultControl:
    """The running side: publishes cameras.json and applies edits of faults.json."""

    def __init__(self, sim: CameraSimulator, run_dir: Path, notify: Callable[[str], None]) -> None:
        self._sim = sim
        self._run_dir = run_dir
        self._notify = notify
        self._last_text: str | None = None

    @property
    def faults_path(self) -> Path:
        """The control file."""
        return self._run_dir / FAULTS_FILE

    def open(self) -> None:
        """Write both files for the current state."""
        self.write_cameras()
        faults = {cam.id: cam.fault for cam in self._sim.cameras}
        write_private_json(self.faults_path, fault_names(faults))
        self._last_text = self.faults_path.read_text()

    def write_cameras(self) -> None:
        """Rewrite cameras.json with every camera's URL (with password) and fault."""
        document = {
            "pid": os.getpid(),
            "rtsp_port": self._sim.server.rtsp_port,
            "mediamtx_api": self._sim.server.api_url,
            "cameras": [
                {"id": c.id, "url": c.url, "fault": c.fault.value if c.fault else None}
                for c in self._sim.cameras
            ],
        }
        write_private_json(self._run_dir / CAMERAS_FILE, document)

    def poll(self) -> None:
        """Apply faults.json if it changed since the last look; log a bad edit once."""
        try:
            text = self.faults_path.read_text()
        except OSError:
            return  # being replaced, or removed by hand: keep the current faults
        if text == self._last_text:
            return
        self._last_text = text
        try:
            wanted = parse_faults(json.loads(text), self.faults_path)
        except (ValueError, CamsimError) as err:
            log.warning("ignoring %s: %s", self.faults_path, err)
            return
        self._apply(wanted)

    def _apply(self, wanted: Mapping[str, Fault | None]) -> None:
        for camera, fault in wanted.items():
            if camera not in self._sim.camera_ids:
                log.warning("faults.json names unknown camera=%s", camera)
                continue
            if self._sim.fault(camera) == fault:
                continue
            try:
                self._sim.set_fault(camera, fault)
            except CamsimError as err:
                log.error("camera=%s could not switch to %s: %s", camera, fault or "none", err)
            self._notify(f"{camera}: fault {fault or 'none'}")
        self.write_cameras()

    def close(self) -> None:
        """Remove the control file: nobody is listening any more."""
        self.faults_path.unlink(missing_ok=True)
