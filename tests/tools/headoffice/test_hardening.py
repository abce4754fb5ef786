"""nvr-headoffice against hostile requests (issue 18, item 5), with a real receiver process.

- An overlong X-NVR-Timestamp is a 401 naming the header, not a 500 with a traceback.
- An unknown site is answered exactly like a known site with a bad signature.
- A body larger than the cap is refused from its Content-Length, before it is sent.
"""

from __future__ import annotations

import json
import socket
import time

import pytest
import requests

from nvr_headoffice.constants import MAX_BODY_BYTES
from nvrtest.headoffice import SITE, HeadOffice, envelope

pytestmark = pytest.mark.timeout(60)


def test_an_overlong_timestamp_is_a_401_not_a_500(headoffice: HeadOffice) -> None:
    body = json.dumps([envelope(1)]).encode()
    for stamp in ("9" * 5000, "1" * 13, "\u00b2\u00b3"):  # 5,000 digits, 13, superscripts
        answer = requests.post(
            headoffice.reports_url,
            data=body,
            headers={"X-NVR-Site": SITE, "X-NVR-Timestamp": stamp, "X-NVR-Signature": "x"},
            timeout=10,
        )
        assert answer.status_code == 401, stamp[:20]
        assert answer.json()["error"] == "missing or malformed X-NVR-Timestamp header"
    assert headoffice.site()["reports"] == 0
    # The fixture checks the log holds no traceback.


def test_an_unknown_site_is_answered_like_a_bad_signature(headoffice: HeadOffice) -> None:
    unknown = headoffice.post([envelope(1, site="nowhere")], site="nowhere", secret="guess")
    wrong = headoffice.post([envelope(1)], secret="guess")
    assert unknown.status_code == wrong.status_code == 401
    # The same words, but for the site id the client sent itself.
    assert unknown.json()["error"].replace("'nowhere'", "S") == wrong.json()["error"].replace(
        f"'{SITE}'", "S"
    )
    assert set(unknown.headers) == set(wrong.headers)
    # The operator still learns which it was, from the log.
    assert "[site not in the sites file]" in headoffice.log()
    assert "[wrong secret]" in headoffice.log()


def test_a_body_over_the_cap_is_refused_before_it_is_sent(headoffice: HeadOffice) -> None:
    with socket.create_connection(("127.0.0.1", headoffice.port), timeout=10) as conn:
        conn.sendall(
            (
                "POST /api/nvr/reports HTTP/1.1\r\n"
                f"Host: 127.0.0.1\r\nX-NVR-Site: {SITE}\r\n"
                f"X-NVR-Timestamp: {int(time.time())}\r\nX-NVR-Signature: sha256=00\r\n"
                f"Content-Type: application/json\r\nContent-Length: {MAX_BODY_BYTES + 1}\r\n\r\n"
            ).encode()
        )
        # Not one byte of the body was sent: the answer comes from the headers alone.
        answer = conn.recv(4096).decode("latin-1")
    assert answer.startswith("HTTP/1.1 413"), answer[:200]
    assert headoffice.site()["reports"] == 0
