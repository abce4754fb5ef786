"""`nvr-camsim` as a technician runs it: URLs without passwords, faults, clean stop."""

from __future__ import annotations

import json
import os
import queue
import signal
import stat
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit

import psutil
import pytest

from .conftest import HEIGHT, WIDTH
from .media import probe

pytestmark = pytest.mark.timeout(120)

# The console script of nvr-tools (tools/pyproject.toml), as a technician runs it.
CLI = [str(Path(sys.executable).with_name("nvr-camsim"))]
SIZE = f"{WIDTH}x{HEIGHT}"
STARTED_LINE = "stop: Ctrl-C"


def camsim(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run a short camsim command (errors, `fault`) to completion."""
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, timeout=60, env=env, check=False
    )


class Running:
    """A camsim in the foreground, with its stdout collected line by line."""

    def __init__(self, run_dir: Path, *args: str) -> None:
        self.run_dir = run_dir
        self.proc = subprocess.Popen(
            [*CLI, "--run-dir", str(run_dir), "--rtsp-port", "0", *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self._pumps = [
            threading.Thread(target=self._pump, args=(self.proc.stdout, self.lines.put)),
            threading.Thread(target=self._pump, args=(self.proc.stderr, self.stderr.append)),
        ]
        for pump in self._pumps:
            pump.start()

    @staticmethod
    def _pump(stream: IO[str] | None, sink: Callable[[str], None]) -> None:
        assert stream is not None
        with stream:
            for line in stream:
                sink(line.rstrip("\n"))

    def wait_for_line(self, text: str, timeout: float = 90) -> None:
        while True:
            try:
                line = self.lines.get(timeout=timeout)
            except queue.Empty:
                pytest.fail(f"camsim never printed {text!r}; so far: {self.stdout}")
            self.stdout.append(line)
            if text in line:
                return

    def cameras(self) -> dict[str, str]:
        document = json.loads((self.run_dir / "cameras.json").read_text())
        return {c["id"]: c["url"] for c in document["cameras"]}

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(30)
        for pump in self._pumps:
            pump.join(10)
        self.stdout.extend(iter_queue(self.lines))
        return code


def iter_queue(lines: queue.Queue[str]) -> Iterator[str]:
    while not lines.empty():
        yield lines.get_nowait()


def test_camsim_runs_prints_redacted_urls_and_switches_faults(tmp_path: Path) -> None:
    run = Running(tmp_path, "--cameras", "2", "--resolution", SIZE, "--bitrate", "800k",
                  "--fault", "cam02=offline")  # fmt: skip
    try:
        run.wait_for_line(STARTED_LINE)
        children = psutil.Process(run.proc.pid).children(recursive=True)
        urls = run.cameras()
        assert sorted(urls) == ["cam01", "cam02"]
        assert stat.S_IMODE((tmp_path / "cameras.json").stat().st_mode) == 0o600

        result = probe(urls["cam01"])
        assert result.ok, result.error
        assert (result.width, result.height) == (WIDTH, HEIGHT)
        assert "404" in probe(urls["cam02"]).error

        switched = camsim("fault", "cam02", "none", "--run-dir", str(tmp_path))
        assert switched.returncode == 0, switched.stderr
        assert switched.stdout.strip() == "cam02: fault none"
        assert probe(urls["cam02"]).ok
    finally:
        code = run.stop()
    assert code == 0, "\n".join(run.stderr)
    output = "\n".join(run.stdout)
    for url in urls.values():
        password = urlsplit(url).password
        assert password and password not in output
        assert url.replace(password, "***") in output
    assert "cam02: fault none" in output
    assert all(not p.is_running() or p.status() == psutil.STATUS_ZOMBIE for p in children)
    assert not (tmp_path / "faults.json").exists()


def test_fault_command_without_a_running_camsim(tmp_path: Path) -> None:
    result = camsim("fault", "cam01", "black", "--run-dir", str(tmp_path))
    assert result.returncode == 1
    assert result.stderr.startswith("error: ")
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--fault", "cam02=sparkly"], "unknown fault 'sparkly'"),
        (["--fault", "cam09=black"], "no camera 'cam09'"),
        (["--fault", "cam02"], "expected CAMERA=FAULT"),
        (["--resolution", "720p"], "bad resolution"),
        (["--bitrate", "fast"], "bad bitrate"),
    ],
)
def test_bad_options_are_one_line_errors(tmp_path: Path, args: list[str], message: str) -> None:
    result = camsim("--run-dir", str(tmp_path), *args)
    assert result.returncode == 2
    assert result.stderr.startswith("error: ")
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("tool", "variable"), [("mediamtx", "NVR_MEDIAMTX_BIN"), ("ffmpeg", "NVR_FFMPEG_BIN")]
)
def test_missing_tool_is_a_one_line_error(tmp_path: Path, tool: str, variable: str) -> None:
    env = {**os.environ, variable: str(tmp_path / f"no-{tool}")}
    result = camsim("--run-dir", str(tmp_path), "--rtsp-port", "0", env=env)
    assert result.returncode == 1
    assert (
        result.stderr.strip()
        == f"error: {tool} not found: {variable}={tmp_path}/no-{tool} is not an executable file"
    )
