"""Credentials never reach a log line, whatever path they take."""

from __future__ import annotations

import io
import logging

import pytest

from nvr.core.logsetup import configure_logging
from nvr.core.redact import Secret, SecretUrl, redact_text, redact_url


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("rtsp://admin:pw@10.0.0.1:554/s1", "rtsp://admin:***@10.0.0.1:554/s1"),
        ("rtsp://admin:p@ss:w0rd@cam.local/s1", "rtsp://admin:***@cam.local/s1"),
        ("rtsp://10.0.0.1/s1", "rtsp://10.0.0.1/s1"),
        ("rtsp://admin:pw@[fe80::1]:554/s1", "rtsp://admin:***@[fe80::1]:554/s1"),
    ],
)
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown
    assert str(SecretUrl(url)) == shown


def test_free_text_from_ffmpeg_is_redacted() -> None:
    line = "[rtsp @ 0x55] method DESCRIBE failed: rtsp://admin:Cam#2024!@10.0.1.21/x 401"
    assert redact_text(line) == (
        "[rtsp @ 0x55] method DESCRIBE failed: rtsp://admin:***@10.0.1.21/x 401"
    )


def test_registered_secret_is_masked_as_a_whole_token_only() -> None:
    token = Secret("tok-9f8e7d6c5b")
    assert token.reveal() == "tok-9f8e7d6c5b"
    assert str(token) == "***" and "tok-9f8e7d6c5b" not in repr(token)
    assert redact_text("Authorization: Bearer tok-9f8e7d6c5b") == "Authorization: Bearer ***"
    Secret("gatepass")
    assert redact_text("gatepass_file is set") == "gatepass_file is set"


def test_log_lines_and_tracebacks_are_redacted() -> None:
    stream = io.StringIO()
    configure_logging(logging.INFO, stream)
    log = logging.getLogger("nvr.test")
    url = SecretUrl("rtsp://admin:Tr0ub4dor@10.0.0.9/live")
    log.info("starting ffmpeg -i %s", url.reveal())
    try:
        raise ConnectionError(f"cannot reach {url.reveal()}")
    except ConnectionError:
        log.exception("probe failed")
    output = stream.getvalue()
    assert "Tr0ub4dor" not in output
    assert output.count("rtsp://admin:***@10.0.0.9/live") == 2  # message and exception
    configure_logging(logging.WARNING)


@pytest.mark.parametrize(
    "url",
    [
        "rtsp://admin:p@ss@10.0.0.1/s1",  # a raw '@': the host starts after the last one
        "rtsp://admin:p%40ss@10.0.0.1/s1",  # the same password, encoded
    ],
)
def test_credentials_have_one_spelling_encoded_once(url: str) -> None:
    secret_url = SecretUrl(url)
    assert secret_url.reveal() == "rtsp://admin:p%40ss@10.0.0.1/s1"  # for ffmpeg, mediamtx
    assert secret_url.password is not None and secret_url.password.reveal() == "p@ss"
    assert SecretUrl(secret_url.reveal()) == secret_url  # encoding twice changes nothing
    assert secret_url.without_credentials == "rtsp://10.0.0.1/s1"


def test_password_file_value_is_taken_literally_and_never_printed() -> None:
    odd = "a:b@c/d#e?f g%41"
    url = SecretUrl("rtsp://ad%40min:x@[fe80::1]:554/s1").with_password(odd)
    assert url.reveal() == "rtsp://ad%40min:a%3Ab%40c%2Fd%23e%3Ff%20g%2541@[fe80::1]:554/s1"
    assert url.username == "ad@min"
    assert url.password is not None and url.password.reveal() == odd
    for shown in (str(url), repr(url), redact_text(f"failed: {url.reveal()} and {odd}")):
        assert odd not in shown and "a%3Ab" not in shown
