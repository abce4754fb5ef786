"""nvr.yaml: validated into typed objects; every error one line naming file and key."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from nvr.core.config import Container, load_config
from nvr.core.config.salvage import salvage_config
from nvr.core.errors import ConfigError
from nvrtest import base_config

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "etc" / "nvr" / "nvr.yaml"

WriteConfig = Callable[..., Path]


def config_error(path: Path) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: ")
    return message


def test_shipped_example_is_valid_and_uses_the_fixed_keys() -> None:
    config = load_config(EXAMPLE)
    raw = yaml.safe_load(EXAMPLE.read_text())
    assert raw["site"]["id"] == config.site.id
    assert config.storage.recordings_dir == Path(raw["storage"]["recordings_dir"])
    assert config.storage.state_file == Path(raw["storage"]["state_file"])
    assert config.recording.segment_seconds == raw["recording"]["segment_seconds"]
    assert config.health.listen == raw["health"]["listen"]
    assert [c.id for c in config.cameras] == [c["id"] for c in raw["cameras"]]


def test_every_key_of_the_example_is_commented() -> None:
    """A technician reading nvr.yaml finds an explanation next to each key."""
    uncommented = []
    lines = EXAMPLE.read_text().splitlines()
    for number, line in enumerate(lines):
        stripped = line.strip()
        if not stripped or stripped.startswith("#") or stripped.startswith("- {"):
            continue
        previous = lines[number - 1].strip() if number else ""
        if "#" not in line and not previous.startswith("#"):
            uncommented.append(f"line {number + 1}: {stripped}")
    assert not uncommented, uncommented


def test_defaults_fill_what_the_file_leaves_out(write_config: WriteConfig) -> None:
    config = load_config(write_config())
    assert config.recording.segment_seconds == 60
    assert config.recording.container is Container.FMP4
    assert config.disk.high_watermark_percent == 90
    assert config.disk.low_watermark_percent == 85
    assert config.health.listen == "127.0.0.1:8080"
    assert config.enabled_cameras[0].id == "cam01"


def test_password_is_kept_but_never_printed(write_config: WriteConfig) -> None:
    config = load_config(write_config())
    camera = config.cameras[0]
    assert camera.url.reveal() == "rtsp://admin:s3cr3t-pw@127.0.0.1:8554/cam01"
    for text in (str(camera.url), repr(camera.url), repr(camera), repr(config), f"{camera.url}"):
        assert "s3cr3t-pw" not in text
    assert "rtsp://admin:***@127.0.0.1:8554/cam01" in repr(camera)
    assert "s3cr3t-pw" not in config.model_dump_json()


def test_password_file_replaces_the_url_password(write_config: WriteConfig, tmp_path: Path) -> None:
    secret = tmp_path / "cam01.pw"
    secret.write_text("from-file-pw\n")
    path = write_config(
        cameras=[
            {"id": "cam01", "url": "rtsp://admin@10.0.0.5/s1", "password_file": str(secret)},
        ]
    )
    camera = load_config(path).cameras[0]
    assert camera.url.reveal() == "rtsp://admin:from-file-pw@10.0.0.5/s1"
    assert "from-file-pw" not in repr(camera)


def test_config_is_immutable(write_config: WriteConfig) -> None:
    config = load_config(write_config())
    with pytest.raises(ValidationError):
        config.recording.segment_seconds = 5  # type: ignore[misc]


def test_typo_in_a_key_is_an_error_naming_the_key(write_config: WriteConfig) -> None:
    path = write_config(recording={"segment_second": 10})
    assert "recording.segment_second: unknown key" in config_error(path)


def test_error_inside_camera_list_names_the_index(write_config: WriteConfig) -> None:
    path = write_config(
        cameras=[
            {"id": "cam01", "url": "rtsp://a:pw-one@h/1"},
            {"id": "cam02", "url": "rtsp://a:pw-two@h/2", "expect": {"fps": -3}},
        ]
    )
    message = config_error(path)
    assert "cameras[1].expect.fps:" in message
    assert "greater than 0" in message


def test_duplicate_camera_ids_are_rejected(write_config: WriteConfig) -> None:
    path = write_config(
        cameras=[
            {"id": "cam01", "url": "rtsp://a:pw-one@h/1"},
            {"id": "cam01", "url": "rtsp://a:pw-two@h/2"},
        ]
    )
    assert "cameras[1].id: duplicate camera id 'cam01'" in config_error(path)


@pytest.mark.parametrize("bad_id", ["../etc", "Cam 1", "cam/01", "", "x" * 40])
def test_camera_ids_must_be_safe_path_components(write_config: WriteConfig, bad_id: str) -> None:
    path = write_config(cameras=[{"id": bad_id, "url": "rtsp://h/1"}])
    assert "cameras[0].id:" in config_error(path)


def test_non_rtsp_camera_url_is_rejected_without_showing_the_password(
    write_config: WriteConfig,
) -> None:
    path = write_config(cameras=[{"id": "cam01", "url": "http://admin:hunter22@h/x"}])
    message = config_error(path)
    assert "cameras[0].url: must be an rtsp://" in message
    assert "hunter22" not in message


def test_single_session_camera_needs_the_publisher_credentials(
    write_config: WriteConfig, tmp_path: Path
) -> None:
    camera = {"id": "cam01", "url": "rtsp://a:pw-one@h/1", "sessions": 1}
    path = write_config(cameras=[camera])
    assert "cameras cam01 have sessions: 1: set livestream.publisher" in config_error(path)
    viewer = {"user": "rec", "password_hash": "scrypt$14$8$1$" + "A" * 22 + "$" + "B" * 43}
    secret = tmp_path / "publisher.pw"
    secret.write_text("no:colons-please\n")
    path = write_config(
        cameras=[camera],
        livestream={
            "viewers": [viewer],
            "publisher": "rec",
            "publisher_password_file": str(secret),
        },
    )
    message = config_error(path)
    assert "livestream.publisher_password: must not contain ':'" in message
    assert "colons-please" not in message


def test_watermarks_must_be_ordered(write_config: WriteConfig) -> None:
    path = write_config(disk={"high_watermark_percent": 80, "low_watermark_percent": 85})
    assert "disk: low_watermark_percent must be below" in config_error(path)


def test_missing_required_key(write_config: WriteConfig) -> None:
    path = write_config(site={"name": "no id"})
    assert "site.id: required key is missing" in config_error(path)


def test_unreadable_secret_file_names_the_key_and_path(write_config: WriteConfig) -> None:
    path = write_config(uplink={"head_office": {"url": "https://ho", "secret_file": "/nonexist"}})
    assert "uplink.head_office: secret_file: cannot read /nonexist" in config_error(path)


def test_yaml_syntax_error_names_the_line(write_config: WriteConfig) -> None:
    path = write_config(raw="site:\n  id: smg-01\n cameras: [\n")
    assert "line 3" in config_error(path)


def test_missing_file(tmp_path: Path) -> None:
    assert config_error(tmp_path / "nope.yaml").endswith("config file not found")


def test_nvr_config_env_is_used_when_no_path_given(
    write_config: WriteConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NVR_CONFIG", str(write_config()))
    assert load_config().site.id == "test-01"


def test_nvrctl_config_check_valid(write_config: WriteConfig, nvrctl: list[str]) -> None:
    path = write_config()
    result = subprocess.run(
        [*nvrctl, "config", "check", "--config", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "ok" in result.stdout


def test_nvrctl_config_check_invalid_is_one_line_exit_1(
    write_config: WriteConfig, nvrctl: list[str]
) -> None:
    path = write_config(
        cameras=[{"id": "cam01", "url": "rtsp://admin:topsecret9@h/1", "enabeld": True}]
    )
    result = subprocess.run(
        [*nvrctl, "config", "check", "--config", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0] == (
        f"nvrctl: error: {path}: cameras[0].enabeld: unknown key "
        "(did you mean 'enabled'? every key: `nvrctl config schema`"
        " or /usr/share/doc/nvr/examples/nvr.yaml)"
    )
    assert "topsecret9" not in result.stderr + result.stdout


def test_salvage_leaves_out_only_what_is_broken(tmp_path: Path) -> None:
    """What `nvrctl status` runs on when the file does not validate (issue 24)."""
    data = base_config(tmp_path)
    good = dict(data["cameras"][0])
    data["cameras"] = [
        {**good, "id": "cam01", "enabeld": False},  # a typo: the key goes, the camera stays
        {"id": "cam02", "name": "no url"},  # a required key missing: the camera goes
        {**good, "id": "cam03"},
    ]
    data["recording"] = {"segment_secnds": 10, "segment_seconds": 30}
    path = tmp_path / "nvr.yaml"
    path.write_text(yaml.safe_dump(data))
    salvaged = salvage_config(path)
    assert salvaged is not None
    config, dropped = salvaged
    assert [c.id for c in config.cameras] == ["cam01", "cam03"]
    assert config.recording.segment_seconds == 30
    assert "recording.segment_secnds" in dropped and "cameras.0.enabeld" in dropped
