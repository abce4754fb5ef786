"""`nvrctl config apply`: check the file, reload every running daemon, say who accepted it.

The daemons reload on SIGHUP (nvr.core.service), sent the way their supervisor expects:
`systemctl reload` under systemd, `supervisorctl signal HUP 'nvr:*'` under supervisord,
a plain SIGHUP to a daemon started by hand. Each daemon records the outcome in the state
file (nvr.core.configloads); this command waits for every record newer than its signal.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import psutil

from nvr.core.config import Config, load_config
from nvr.core.configloads import ConfigLoad, Outcome, file_sha256, read_config_loads
from nvr.core.errors import NvrError
from nvr.core.heartbeats import read_heartbeats
from nvr.core.process import run_command
from nvr.core.state import StateStore, now_ms

SYSTEMD_RUN_DIR = Path("/run/systemd/system")
SUPERVISOR_GROUP = "nvr"  # packaging/supervisord/nvr.conf, [group:nvr]
# A reload is a config parse and an apply: seconds, even on a loaded box.
DEFAULT_WAIT_SECONDS = 30.0
POLL_SECONDS = 0.2


@dataclass(frozen=True)
class Running:
    """A daemon whose heartbeat names a live process."""

    daemon: str
    pid: int


def running_daemons(store: StateStore) -> list[Running]:
    """Daemons whose heartbeat's process exists and has not said it stopped."""
    beats = read_heartbeats(store.read())
    return [
        Running(b.daemon, b.pid)
        for b in sorted(beats.values(), key=lambda b: b.daemon)
        if b.alive and b.state not in ("stopping", "stopped")
    ]


def _supervisord_conf(pid: int) -> str | None:
    """The -c/--configuration of the supervisord that started `pid`, "" for its default.

    None when the parent is not supervisord.
    """
    try:
        parent = psutil.Process(pid).parent()
        argv = parent.cmdline() if parent is not None else []
    except psutil.Error:
        return None
    if not any("supervisord" in part for part in argv[:2]):
        return None
    for index, part in enumerate(argv):
        if part in ("-c", "--configuration") and index + 1 < len(argv):
            return argv[index + 1]
        if part.startswith("--configuration="):
            return part.split("=", 1)[1]
    return ""


def _under_systemd(running: Running) -> bool:
    try:
        cgroup = Path(f"/proc/{running.pid}/cgroup").read_text()
    except OSError:
        return False
    return SYSTEMD_RUN_DIR.is_dir() and f"/{running.daemon}.service" in cgroup


def send_reloads(daemons: Sequence[Running]) -> list[str]:
    """SIGHUP every daemon through its supervisor; returns the commands used, for the report."""
    done: list[str] = []
    supervised = {r.daemon: _supervisord_conf(r.pid) for r in daemons}
    confs = {conf for conf in supervised.values() if conf is not None}
    for conf in sorted(confs):
        argv = ["supervisorctl", *(["-c", conf] if conf else [])]
        argv += ["signal", "HUP", f"{SUPERVISOR_GROUP}:*"]
        run_command(argv)
        done.append(" ".join(argv))
    rest = [r for r in daemons if supervised[r.daemon] is None]
    units = [f"{r.daemon}.service" for r in rest if _under_systemd(r)]
    if units:
        run_command(["systemctl", "reload", *units])
        done.append(f"systemctl reload {' '.join(units)}")
    for running in rest:
        if f"{running.daemon}.service" not in units:
            os.kill(running.pid, signal.SIGHUP)
            done.append(f"kill -HUP {running.pid} ({running.daemon})")
    return done


def wait_for_loads(
    store: StateStore, daemons: Sequence[str], since_ms: int, timeout: float
) -> dict[str, ConfigLoad]:
    """Each daemon's load recorded at or after `since_ms`, as many as came within `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        loads = read_config_loads(store.read())
        fresh = {d: loads[d] for d in daemons if d in loads and loads[d].at_ms >= since_ms}
        if len(fresh) == len(daemons) or time.monotonic() >= deadline:
            return fresh
        time.sleep(POLL_SECONDS)


def apply_config(path: Path, *, wait_seconds: float, out: TextIO = sys.stdout) -> int:
    """The whole command; 0 when every running daemon accepted the file."""
    config: Config = load_config(path)  # a broken file stops here, nothing is signalled
    digest = (file_sha256(path) or "")[:12]
    store = StateStore.open(config.storage.state_file)
    try:
        daemons = running_daemons(store)
        if not daemons:
            raise NvrError(f"{path}: valid, but no daemon is running to reload it")
        since = now_ms()
        try:
            commands = send_reloads(daemons)
        except (OSError, subprocess.SubprocessError) as err:
            raise NvrError(f"could not signal the daemons to reload: {err}") from None
        names = [r.daemon for r in daemons]
        loads = wait_for_loads(store, names, since, wait_seconds)
    finally:
        store.close()
    print(f"{path}: valid (sha256 {digest}); reloaded with: {'; '.join(commands)}", file=out)
    failed = 0
    for name in names:
        load = loads.get(name)
        if load is None:
            failed += 1
            print(f"  {name:<16} no answer within {wait_seconds:g} s", file=out)
        elif load.outcome is Outcome.ACCEPTED:
            print(f"  {name:<16} accepted (sha256 {(load.sha256 or '?')[:12]})", file=out)
        else:
            failed += 1
            print(f"  {name:<16} {load.outcome}: {load.error}", file=out)
    return 1 if failed else 0
