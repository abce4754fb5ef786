"""`nvrctl camera add` against a simulated camera (issue 24): probe, propose, write, apply.

Real parts: the camera simulator (ffmpeg publishing H.264 into mediamtx, with per-camera
passwords), ffprobe, and a running daemon on the real runtime that reloads the new file.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from nvr.core.config import load_config
from nvr_camsim.simulator import CameraSimulator
from nvrtest import SIM_HEIGHT, SIM_WIDTH, Child, query_state, wait_until

pytestmark = pytest.mark.timeout(120)

SAMPLE = Path(__file__).resolve().parents[1] / "core" / "sample_daemon.py"
CONFIG = """\
# The site's own notes: they must survive `nvrctl camera add`.
site:
  id: test-01
  name: Test site   # as head office knows it
storage:
  recordings_dir: {tmp}/recordings
  state_file: {tmp}/state/state.db
cameras:
  # The gate camera, installed 2026-11.
  - id: cam01
    name: Gate
    url: rtsp://admin:x@127.0.0.1:9/cam01
    enabled: false

recording:
  segment_seconds: 10  # short segments on this site
"""


@pytest.fixture
def sample(tmp_path: Path) -> Iterator[tuple[Path, Child]]:
    (tmp_path / "recordings").mkdir()
    (tmp_path / "state").mkdir()
    path = tmp_path / "nvr.yaml"
    path.write_text(CONFIG.format(tmp=tmp_path))
    child = Child(tmp_path, "sample")
    child.spawn([sys.executable, str(SAMPLE), "--config", str(path)])
    state = tmp_path / "state" / "state.db"
    wait_until(
        lambda: query_state(state, "SELECT 1 FROM config_loads WHERE daemon = 'nvr-sample'"),
        60,
        "nvr-sample running",
    )
    yield path, child
    assert child.stop() == 0


def nvrctl(path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nvr.cli.main", "camera", "add", "--config", str(path), *args],
        capture_output=True,
        text=True,
        timeout=90,
    )


def test_camera_add_probes_proposes_writes_and_applies(
    sample: tuple[Path, Child], sim: CameraSimulator
) -> None:
    path, child = sample
    url = sim.camera_url("cam02")
    password = sim.password("cam02")
    before = path.read_text()

    # A wrong password: said plainly, nothing written, no password printed.
    wrong = nvrctl(path, "--url", url.replace(password, "wrong-pw"))
    assert wrong.returncode == 1
    assert "refused the credentials" in wrong.stderr and "nothing written" in wrong.stderr
    assert path.read_text() == before and "wrong-pw" not in wrong.stderr

    done = nvrctl(path, "--url", url, "--name", "Yard")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "answers, credentials accepted" in done.stdout
    assert f"sends h264 {SIM_WIDTH}x{SIM_HEIGHT} at " in done.stdout
    assert "wrote cam02 to" in done.stdout  # cam01 is taken: the next free id
    assert "nvr-sample       accepted" in done.stdout
    assert password not in done.stdout + done.stderr

    # Appended under `cameras:`, every comment and the next section kept.
    text = path.read_text()
    assert text.startswith(before.split("\n\nrecording:")[0])
    for comment in ("# The site's own notes", "# as head office knows it", "# The gate camera"):
        assert comment in text
    assert text.rstrip().endswith("segment_seconds: 10  # short segments on this site")
    config = load_config(path)
    added = config.camera("cam02")
    assert added is not None and added.name == "Yard" and added.url.reveal() == url
    assert (added.expect.codec, added.expect.width, added.expect.height) == (
        "h264",
        SIM_WIDTH,
        SIM_HEIGHT,
    )
    assert added.expect.fps is not None and added.expect.fps > 0
    assert config.recording.segment_seconds == 10
    assert [c["id"] for c in yaml.safe_load(text)["cameras"]] == ["cam01", "cam02"]
    # The running daemon reloaded: its STATUS line now counts the new camera.
    state = path.parent / "state" / "state.db"
    wait_until(
        lambda: query_state(
            state, "SELECT 1 FROM heartbeats WHERE status LIKE '%Yard%' AND daemon = 'nvr-sample'"
        ),
        30,
        "nvr-sample watching the new camera",
    )
    assert child.proc is not None and child.proc.poll() is None
