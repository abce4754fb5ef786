"""`nvrctl camera discover` finds ONVIF cameras by WS-Discovery and asks their RTSP URL.

The simulated cameras' ONVIF side (nvr_camsim.onvif) and nvrctl run in a network namespace
this test creates (`unshare --net`), so the multicast probe reaches only them, whatever
else runs on the machine.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(60)

SCRIPT = """
set -e
ip link set lo up
ip link set lo multicast on
ip route add 224.0.0.0/4 dev lo
"$PY" -m nvr_camsim.onvif --camera cam01=rtsp://127.0.0.1:8554/cam01 \\
    --camera cam02=rtsp://127.0.0.1:8554/cam02 --password-file "$DIR/camera.pw" \\
    > "$DIR/onvif.out" 2>&1 &
SIM=$!
trap 'kill $SIM' EXIT
for _ in $(seq 300); do grep -q "onvif ready" "$DIR/onvif.out" && break; sleep 0.1; done
echo "== right"
"$PY" -m nvr.cli.main camera discover --password-file "$DIR/camera.pw"
echo "== wrong"
"$PY" -m nvr.cli.main camera discover --password-file "$DIR/wrong.pw"
"""


def test_discover_lists_cameras_and_their_rtsp_urls_in_a_namespace(tmp_path: Path) -> None:
    unshare = shutil.which("unshare")
    assert unshare, "unshare (util-linux) not found"
    (tmp_path / "camera.pw").write_text("onvif-pw-5521\n")
    (tmp_path / "wrong.pw").write_text("not-it\n")
    done = subprocess.run(
        [unshare, "--net", "--map-root-user", "sh", "-c", SCRIPT],
        env={"PY": sys.executable, "DIR": str(tmp_path), "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
        capture_output=True,
        text=True,
        timeout=50,
    )
    assert done.returncode == 0, done.stdout + done.stderr + (tmp_path / "onvif.out").read_text()
    right, wrong = done.stdout.split("== wrong")
    lines = [line for line in right.splitlines() if "/onvif/" in line]
    assert len(lines) == 2, done.stdout
    assert "/onvif/cam01/device_service  rtsp://127.0.0.1:8554/cam01" in lines[0]
    assert "/onvif/cam02/device_service  rtsp://127.0.0.1:8554/cam02" in lines[1]
    assert "2 cameras; add one with: nvrctl camera add" in right
    # A wrong password: each camera says so, and no password is printed.
    assert wrong.count("credentials refused") == 2, wrong
    assert "onvif-pw-5521" not in done.stdout + done.stderr
