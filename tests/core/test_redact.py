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
