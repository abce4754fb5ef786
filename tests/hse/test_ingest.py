"""The ingest API's rules without a server: field checks and the per-client rate limit."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from nvr.core.config import parse_config
from nvr.hse.ingest import BadField, RateLimit, parse

CONFIG = parse_config(
    {
        "site": {"id": "test-01"},
        "cameras": [{"id": "cam01", "url": "rtsp://127.0.0.1:8554/cam01"}],
    },
    Path("nvr.yaml"),
)
NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("body", "field", "status"),
    [
        ([1, 2], "body", 400),
        ({"type": "Fire"}, "camera", 400),
        ({"camera": "cam07", "type": "Fire"}, "camera", 404),
        ({"camera": "cam01"}, "type", 400),
        ({"camera": "cam01", "type": "x" * 65}, "type", 400),
        ({"camera": "cam01", "type": "Fire", "time": "08:00"}, "time", 400),
        ({"camera": "cam01", "type": "Fire", "time": "2026-12-01T08:00:00"}, "time", 400),
        ({"camera": "cam01", "type": "Fire", "time": "2026-12-02T08:00:00Z"}, "time", 400),
        ({"camera": "cam01", "type": "Fire", "details": "smoke"}, "details", 400),
        ({"camera": "cam01", "type": "Fire", "priority": 1}, "priority", 400),
    ],
)
def test_bad_fields_are_named(body: object, field: str, status: int) -> None:
    with pytest.raises(BadField) as caught:
        parse(body, CONFIG, NOW)
    assert (caught.value.field, caught.value.status) == (field, status)
    assert str(caught.value).startswith(f"{field}: ")


def test_a_good_event_keeps_its_time_in_utc() -> None:
    posted = parse(
        {"camera": "cam01", "type": "NoHelmet", "time": "2026-12-01T09:30:00+02:00"}, CONFIG, NOW
    )
    assert (posted.camera, posted.alarm_type, posted.at) == (
        "cam01",
        "NoHelmet",
        "2026-12-01T07:30:00.000Z",
    )


def test_rate_limit_allows_a_burst_then_the_rate() -> None:
    now = [0.0]
    limit = RateLimit(per_minute=60, burst=3, clock=lambda: now[0])
    assert [limit.allow("10.0.0.5") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limit.allow("10.0.0.5") > 0  # the 4th at once waits
    assert limit.allow("10.0.0.6") == 0.0  # per client
    now[0] = 1.0
    assert limit.allow("10.0.0.5") == 0.0  # one a second comes back
