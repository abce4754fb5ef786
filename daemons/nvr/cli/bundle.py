"""`nvrctl support-bundle`: one tar.gz a technician attaches to a ticket.

What it holds (docs/operator-guide.md, "The support bundle"): the config with every secret
masked, `nvrctl status`, recent logs, unit states, SMART, disk usage, 24 h coverage per
camera, the daemons' heartbeats and recent events, versions. Each part is collected on
its own: one that fails says why in its file, and the bundle is still written.

No secret may leave the box in it: every text passes through `redact_text` (which knows
each secret the loaded config holds), and the config additionally has the value of every
key that names a secret masked, in case a secret is too short to be registered.
"""

from __future__ import annotations

import io
import json
import logging
import platform
import re
import shutil
import subprocess
import tarfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from nvr import __version__
from nvr.cli.status_cmd import run_status
from nvr.core.config import Config
from nvr.core.process import run_child
from nvr.core.redact import MASK, redact_text
from nvr.core.state import StateStore, now_ms
from nvr.core.tables.recordings import coverage

log = logging.getLogger(__name__)

LOG_DIR = Path("/var/log/nvr")  # syslog-ng's files per daemon (syslog-ng/conf.d/nvr.conf)
LOG_TAIL_LINES = 5_000
EVENTS_KEPT = 500
COMMAND_TIMEOUT_SECONDS = 20
_SECRET_KEY = re.compile(
    r"^(?P<key>\s*-?\s*[\w-]*(password|secret|token|passphrase|private_key)[\w-]*\s*:\s*)"
    r"(?P<value>\S.*)$",
    re.IGNORECASE | re.MULTILINE,
)

Part = Callable[[], str]


def redacted_config(path: Path) -> str:
    """The config file as written, secrets masked (registered ones and secret-named keys)."""
    text = path.read_text(encoding="utf-8")
    text = _SECRET_KEY.sub(lambda m: f"{m.group('key')}{MASK}", text)
    return redact_text(text)


def command(argv: list[str]) -> str:
    """A command's output, or why there is none (not installed, failed, timed out)."""
    if shutil.which(argv[0]) is None:
        return f"({argv[0]} not installed)\n"
    try:
        done = run_child(argv, COMMAND_TIMEOUT_SECONDS)
    except (OSError, subprocess.SubprocessError) as err:
        return f"({' '.join(argv)} failed: {err})\n"
    return f"$ {' '.join(argv)}  (exit {done.returncode})\n{done.stdout}{done.stderr}"


def status_text(config: Config) -> str:
    """`nvrctl status` as the technician would see it."""
    out = io.StringIO()
    run_status(config, as_json=False, out=out)
    return out.getvalue()


def units() -> str:
    """The NVR units' and mediamtx's states under systemd."""
    if not Path("/run/systemd/system").is_dir():
        return "(not running under systemd: see supervisorctl status)\n"
    return command(["systemctl", "list-units", "--all", "--no-pager", "nvr*", "mediamtx*"])


def journal() -> str:
    """The last 24 h of the NVR units' journal."""
    if not Path("/run/systemd/system").is_dir():
        return "(no journal: not running under systemd)\n"
    return command(
        [
            "journalctl",
            "--no-pager",
            "--since",
            "-24h",
            "-u",
            "nvr-*",
            "-u",
            "mediamtx",
            "-n",
            "20000",
        ]
    )


def log_files(directory: Path) -> dict[str, str]:
    """The last lines of each daemon's log file, keyed by bundle member name."""
    if not directory.is_dir():
        return {"logs/README.txt": f"({directory} does not exist)\n"}
    files = {}
    for path in sorted(directory.glob("*.log")):
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()[-LOG_TAIL_LINES:]
        files[f"logs/{path.name}"] = "\n".join(lines) + "\n"
    return files or {"logs/README.txt": f"(no *.log in {directory})\n"}


def smart(config: Config) -> str:
    """The JSON smartctl gives for each configured device."""
    devices = config.disk.smart_devices
    if not devices:
        return "(no disk.smart_devices configured)\n"
    return "".join(command(["smartctl", "-j", "-a", device]) for device in devices)


def disk_usage(config: Config) -> str:
    """Space and inodes of the recordings and state filesystems."""
    paths = [str(config.storage.recordings_dir), str(config.storage.state_file.parent)]
    return command(["df", "-h", *paths]) + command(["df", "-i", *paths])


def state_json(config: Config) -> dict[str, str]:
    """Heartbeats, recent events and 24 h coverage per camera, from the state file."""
    with StateStore.open(config.storage.state_file) as store:
        conn = store.read()
        beats = [dict(r) for r in conn.execute("SELECT * FROM heartbeats ORDER BY daemon")]
        events = [
            dict(r)
            for r in conn.execute("SELECT * FROM events ORDER BY id DESC LIMIT ?", (EVENTS_KEPT,))
        ]
        now = now_ms()
        covered = [
            coverage(conn, camera.id, now - 86_400_000, now).to_json() for camera in config.cameras
        ]
    return {
        "state/heartbeats.json": json.dumps(beats, indent=2),
        "state/events.json": json.dumps(events, indent=2),
        "state/coverage-24h.json": json.dumps(covered, indent=2),
    }


def versions() -> str:
    """Ours, Python's, the OS's and ffmpeg's."""
    lines = [
        f"nvr {__version__}",
        f"python {platform.python_version()}",
        f"platform {platform.platform()}",
    ]
    release = Path("/etc/os-release")
    if release.is_file():
        lines.append(release.read_text().strip())
    return "\n".join(lines) + "\n" + command(["ffmpeg", "-hide_banner", "-version"])


def _safely(name: str, part: Part) -> str:
    try:
        return part()
    except Exception as err:  # a bundle with one part missing beats no bundle
        log.warning("support bundle: %s not collected: %s", name, err)
        return f"(not collected: {type(err).__name__}: {err})\n"


def build(config: Config, config_path: Path, log_dir: Path) -> dict[str, str]:
    """Every member of the bundle by name, each already redacted."""
    parts: dict[str, Part] = {
        "config/nvr.yaml": lambda: redacted_config(config_path),
        "status.txt": lambda: status_text(config),
        "units.txt": units,
        "journal-24h.txt": journal,
        "smart.txt": lambda: smart(config),
        "disk.txt": lambda: disk_usage(config),
        "versions.txt": versions,
    }
    members = {name: _safely(name, part) for name, part in parts.items()}
    members.update(log_files(log_dir))
    try:
        members.update(state_json(config))
    except Exception as err:  # the state file may be what is broken
        members["state/README.txt"] = f"(state file unreadable: {type(err).__name__}: {err})\n"
    return {name: redact_text(text) for name, text in members.items()}


def write_bundle(members: dict[str, str], output: Path, site_id: str) -> Path:
    """A tar.gz with one top directory named after the site and the time."""
    top = f"nvr-support-{site_id}-{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
    with tarfile.open(output, "w:gz") as tar:
        for name, text in sorted(members.items()):
            data = text.encode()
            info = tarfile.TarInfo(f"{top}/{name}")
            info.size = len(data)
            info.mtime = int(time.time())
            info.mode = 0o600
            tar.addfile(info, io.BytesIO(data))
    output.chmod(0o600)
    return output
