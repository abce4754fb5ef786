"""`nvrctl support-bundle`: the parts support asks for, and not one secret."""

from __future__ import annotations

import subprocess
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from nvr.core.config import load_config
from nvr.core.state import StateStore
from nvr.core.tables.events import Severity, record_event

pytestmark = pytest.mark.timeout(120)

CAMERA_PW = "cam-pw-Zq81"
HEAD_OFFICE_SECRET = "ho-secret-7f3a9c"
MINIO_SECRET = "minio-secret-K2v"
MQTT_PW = "mqtt-pw-55x"
TOKEN_IN_FILE = "hse-token-from-file-9w"
SECRETS = (CAMERA_PW, HEAD_OFFICE_SECRET, MINIO_SECRET, MQTT_PW, TOKEN_IN_FILE)


def test_bundle_holds_what_support_needs_and_no_secret(
    tmp_path: Path, write_config: Callable[..., Path], nvrctl: list[str]
) -> None:
    token_file = tmp_path / "hse.token"
    token_file.write_text(TOKEN_IN_FILE + "\n")
    config_path = write_config(
        cameras=[
            {"id": "cam01", "name": "Gate", "url": f"rtsp://admin:{CAMERA_PW}@10.0.0.5/s1"},
        ],
        uplink={
            "head_office": {"url": "https://ho.example/api", "secret": HEAD_OFFICE_SECRET},
            "hse_api": {"url": "https://hse.example/api", "token_file": str(token_file)},
            "minio": {
                "endpoint": "minio.example:9000",
                "access_key": "nvr",
                "secret_key": MINIO_SECRET,
            },
            "mqtt": {"host": "mqtt.example", "username": "nvr", "password": MQTT_PW},
        },
    )
    config = load_config(config_path)
    with StateStore.open(config.storage.state_file) as store:
        # A daemon that logged a camera URL it should not have: the bundle masks it anyway.
        record_event(
            store,
            source="nvr-backup",
            severity=Severity.WARNING,
            kind="camera_offline",
            camera="cam01",
            message=f"cam01 offline at rtsp://admin:{CAMERA_PW}@10.0.0.5/s1",
        )
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "nvr-backup.log").write_text(
        f"Nov 30 10:00:00 box nvr-backup[1]: ffmpeg said rtsp://admin:{CAMERA_PW}@10.0.0.5\n"
        f"Nov 30 10:00:01 box nvr-uplink[2]: signing with {HEAD_OFFICE_SECRET}\n"
    )
    output = tmp_path / "bundle.tar.gz"
    done = subprocess.run(
        [*nvrctl, "support-bundle", "--config", str(config_path), "-o", str(output),
         "--log-dir", str(logs)],
        capture_output=True, text=True, timeout=100, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"support bundle written: {output}" in done.stdout

    with tarfile.open(output) as tar:
        members = {
            m.name.split("/", 1)[1]: tar.extractfile(m).read().decode()  # type: ignore[union-attr]
            for m in tar.getmembers()
        }
    expected = {
        "config/nvr.yaml", "status.txt", "units.txt", "journal-24h.txt", "smart.txt",
        "disk.txt", "versions.txt", "logs/nvr-backup.log", "state/heartbeats.json",
        "state/events.json", "state/coverage-24h.json",
    }  # fmt: skip
    assert expected <= set(members), set(members)
    everything = "\n".join(members.values())
    for secret in SECRETS:
        assert secret not in everything, f"{secret} leaked"
    assert "rtsp://admin:***@10.0.0.5" in members["config/nvr.yaml"]
    assert "cam01" in members["status.txt"] and "cam01" in members["state/coverage-24h.json"]
    assert "camera_offline" in members["state/events.json"]
    assert "nvr-uplink[2]: signing with ***" in members["logs/nvr-backup.log"]
    assert "ffmpeg version" in members["versions.txt"]
    assert str(config.storage.recordings_dir) in members["disk.txt"]
    assert output.stat().st_mode & 0o077 == 0, "the bundle is readable by root only"
