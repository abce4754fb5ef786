"""The supervisord config of container deployments: same daemons as the units, and it works.

The shipped packaging/supervisord/nvr.conf is checked against the systemd units, then run
for real: a private supervisord (Debian package supervisor) with two of its programs,
nvr-report and nvr-health, rewritten to this checkout's venv and a temp config. They must
reach RUNNING, one killed with SIGKILL must come back with a new pid, and shutdown must
stop everything.
"""

from __future__ import annotations

import configparser
import json
import os
import shutil
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from nvrtest import wait_until

pytestmark = pytest.mark.timeout(120)

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "packaging" / "supervisord" / "nvr.conf"
DAEMONS = ("backup", "hddmon", "validator", "livestream", "report", "health", "uplink", "hse")
UNDER_TEST = ("nvr-report", "nvr-health")
VENV_BIN = Path(sys.executable).parent


def tool(name: str) -> str:
    path = shutil.which(name)
    assert path, f"{name} not found (Debian package supervisor; run `make apt`)"
    return path


def read_ini(path: Path, strict: bool = True) -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(strict=strict, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(path)
    return parser


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_programs_match_the_systemd_units() -> None:
    shipped = read_ini(SHIPPED)
    names = {f"nvr-{d}" for d in DAEMONS} | {"mediamtx"}
    assert set(shipped["group:nvr"]["programs"].split(",")) == names
    for name in names:
        program = shipped[f"program:{name}"]
        unit = read_ini(REPO / "systemd" / f"{name}.service", strict=False)
        if name == "mediamtx":
            # The unit reads the config `nvrctl mediamtx config` renders (TLS credentials
            # through LoadCredential=); supervisord has neither, so mediamtx serves the
            # shipped config without viewer TLS there (docs/design/security.md).
            assert (
                unit["Service"]["ExecStart"] == "/usr/local/bin/mediamtx /run/mediamtx/mediamtx.yml"
            )
            assert program["command"] == "/usr/local/bin/mediamtx /etc/mediamtx/mediamtx.yml"
        else:
            assert program["command"] == unit["Service"]["ExecStart"], name
        assert program["autorestart"] == "true"
        assert program["stopsignal"] == "TERM"
        assert program["stdout_logfile"] == "/dev/stdout"
        assert program["stdout_logfile_maxbytes"] == "0"
        if name != "mediamtx":
            assert program["user"] == "nvr"
            assert program["stopasgroup"] == program["killasgroup"] == "true"
        # What the unit puts in the environment (nvr-backup: ffmpeg-rec's path) is there too.
        for key, _, value in (
            v.partition("=") for v in unit["Service"].get("Environment", "").split()
        ):
            assert f'{key}="{value}"' in program.get("environment", ""), (name, key)


def write_supervisord_conf(tmp: Path, config: Path) -> Path:
    """The shipped programs under test, pointed at this checkout, in a private supervisord."""
    shipped = read_ini(SHIPPED)
    conf = configparser.RawConfigParser(interpolation=None)
    conf.optionxform = str  # type: ignore[assignment,method-assign]
    conf["supervisord"] = {
        "nodaemon": "true",
        "logfile": str(tmp / "supervisord.log"),
        "pidfile": str(tmp / "supervisord.pid"),
        "childlogdir": str(tmp),
    }
    conf["unix_http_server"] = {"file": str(tmp / "supervisor.sock"), "chmod": "0700"}
    conf["supervisorctl"] = {"serverurl": f"unix://{tmp / 'supervisor.sock'}"}
    conf["rpcinterface:supervisor"] = {
        "supervisor.rpcinterface_factory": "supervisor.rpcinterface:make_main_rpcinterface"
    }
    conf["group:nvr"] = {"programs": ",".join(UNDER_TEST)}
    for name in UNDER_TEST:
        program = dict(shipped[f"program:{name}"])
        program.pop("user")  # no nvr user on a dev box
        program["command"] = (
            program["command"]
            .replace("/opt/nvr/venv/bin/", f"{VENV_BIN}/")
            .replace("/etc/nvr/nvr.yaml", str(config))
        )
        program["environment"] = f'HOME="{tmp}"'
        program["stdout_logfile"] = str(tmp / f"{name}.log")
        conf[f"program:{name}"] = program
    path = tmp / "supervisord.conf"
    with path.open("w") as out:
        conf.write(out)
    return path


class Supervisor:
    def __init__(self, conf: Path) -> None:
        self.conf = conf

    def ctl(self, *args: str) -> str:
        result = subprocess.run(
            [tool("supervisorctl"), "-c", str(self.conf), *args],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        return result.stdout

    def status(self) -> dict[str, tuple[str, int | None]]:
        states: dict[str, tuple[str, int | None]] = {}
        for line in self.ctl("status").splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[0].startswith("nvr:"):
                pid = int(parts[3].rstrip(",")) if parts[1] == "RUNNING" else None
                states[parts[0].removeprefix("nvr:")] = (parts[1], pid)
        return states

    def all_running(self) -> dict[str, tuple[str, int | None]] | None:
        states = self.status()
        if set(states) == set(UNDER_TEST) and all(s == "RUNNING" for s, _ in states.values()):
            return states
        return None


@pytest.fixture
def supervisor(tmp_path: Path) -> Iterator[tuple[Supervisor, int]]:
    port = free_port()
    (tmp_path / "recordings").mkdir()
    config = tmp_path / "nvr.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "site": {"id": "sup-01", "name": "Supervised"},
                "storage": {
                    "recordings_dir": str(tmp_path / "recordings"),
                    "state_file": str(tmp_path / "state.db"),
                },
                "cameras": [{"id": "cam01", "name": "Gate", "url": "rtsp://10.0.0.1/a"}],
                "health": {"listen": f"127.0.0.1:{port}"},
            }
        )
    )
    conf = write_supervisord_conf(tmp_path, config)
    env = {k: v for k, v in os.environ.items() if k != "NOTIFY_SOCKET"}
    log = (tmp_path / "supervisord.out").open("wb")
    proc = subprocess.Popen(
        [tool("supervisord"), "-c", str(conf)], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        yield Supervisor(conf), port
        Supervisor(conf).ctl("shutdown")
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=30)
        log.close()


def health_answers(port: int) -> dict[str, object] | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as resp:
            return dict(json.load(resp))
    except urllib.error.HTTPError as err:  # 503: the other daemons are not running
        return dict(json.load(err))
    except OSError:
        return None


def test_supervisord_runs_the_daemons_and_restarts_a_killed_one(
    supervisor: tuple[Supervisor, int], tmp_path: Path
) -> None:
    sup, port = supervisor
    states = wait_until(sup.all_running, 60, "nvr-report and nvr-health RUNNING")
    assert wait_until(lambda: health_answers(port), 30, "nvr-health answering /health")
    old_pid = states["nvr-report"][1]
    assert old_pid
    os.kill(old_pid, 9)

    def restarted() -> bool:
        running = sup.all_running()
        return bool(running and running["nvr-report"][1] not in (None, old_pid))

    wait_until(restarted, 60, "nvr-report restarted with a new pid")
    # `nvrctl config apply` reloads through supervisorctl and hears from both (issue 24).
    applied = subprocess.run(
        [sys.executable, "-m", "nvr.cli.main", "config", "apply", "--config",
         str(tmp_path / "nvr.yaml")],
        capture_output=True, text=True, timeout=90, check=False,
    )  # fmt: skip
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert f"supervisorctl -c {sup.conf} signal HUP nvr:*" in applied.stdout
    assert "nvr-report       accepted" in applied.stdout
    assert "nvr-health       accepted" in applied.stdout
    pids = [pid for _, pid in sup.status().values()]
    sup.ctl("stop", "nvr:*")
    stopped = wait_until(
        lambda: all(s == "STOPPED" for s, _ in sup.status().values()) or None, 60, "stopped"
    )
    assert stopped
    for pid in pids:
        assert pid
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
