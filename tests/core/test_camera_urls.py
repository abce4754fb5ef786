"""Camera URLs in nvr.yaml: odd passwords are accepted when written right, and a URL that
cannot be parsed is one clear line saying how to write it, without the password."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from nvr.core.config import load_config
from nvr.core.errors import ConfigError


def write(tmp_path: Path, url: str, **camera: str) -> Path:
    path = tmp_path / "nvr.yaml"
    data = {"site": {"id": "s-01"}, "cameras": [{"id": "cam01", "url": url, **camera}]}
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize(
    "url", ["rtsp://admin:pa#ss@10.0.0.1/s1", "rtsp://admin:pa?ss@10.0.0.1/s1",
            "rtsp://admin:pa/ss@10.0.0.1/s1"],
)  # fmt: skip
def test_a_raw_reserved_character_is_a_one_line_error_without_the_password(
    tmp_path: Path, url: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, url))
    message = str(caught.value)
    assert "cameras[0].url" in message and "percent-encode the password" in message
    password = url.split(":")[2].rsplit("@", 1)[0]
    assert "\n" not in message and password not in message


def test_encoded_and_file_passwords_load_to_the_same_url(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("pa#s s:/?@\n")
    encoded = load_config(write(tmp_path, "rtsp://admin:pa%23s%20s%3A%2F%3F%40@10.0.0.1/s1"))
    from_file = load_config(
        write(tmp_path, "rtsp://admin:x@10.0.0.1/s1", password_file=str(secret))
    )
    assert encoded.cameras[0].url == from_file.cameras[0].url
    password = from_file.cameras[0].url.password
    assert password is not None and password.reveal() == "pa#s s:/?@"
