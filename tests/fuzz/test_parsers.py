"""Property tests of the parsers that read what others wrote (issue 18, fuzzing).

- The config loader: any YAML gives a valid config or ConfigError with one line naming the
  file, never another exception (a traceback is what a technician would see).
- Head office's envelope parser: any body gives envelopes or a 400 with one line.
- The command parser: any message gives a command, or a refusal with one line.
"""

from __future__ import annotations

import json
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nvr.core.config import Config, load_config
from nvr.core.errors import ConfigError
from nvr.core.redact import Secret
from nvr.uplink.mqtt.commands.wire import (
    Destination,
    Refusal,
    authenticate,
    check_envelope,
    read_object,
    signature,
)
from nvr_headoffice.errors import Refused
from nvr_headoffice.verify import parse_envelopes
from nvrtest import base_config

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
SITE = "test-01"
KEY = Secret("fuzz-secret-18")

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True),
    st.text(max_size=40),
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)


def one_line(message: str) -> bool:
    return bool(message) and "\n" not in message and "Traceback" not in message


# -- the config loader ---------------------------------------------------------------------
def _mutated_config(root: Path, path: list[str], value: Any) -> dict[str, Any]:
    """The base config with the value at `path` (created as needed) replaced by `value`."""
    data = base_config(root)
    node: Any = data
    for key in path[:-1]:
        child = node.get(key) if isinstance(node, dict) else None
        if not isinstance(child, dict):
            child = {}
            node[key] = child
        node = child
    node[path[-1]] = value
    return data


SECTIONS = ["site", "storage", "cameras", "recording", "disk", "validation", "livestream",
            "health", "report", "uplink"]  # fmt: skip
KEYS = ["id", "url", "listen", "tls_listen", "viewers", "cameras", "token", "public_host",
        "segment_seconds", "secret_file", "plain_http_anywhere", "name", "enabled"]  # fmt: skip


def _load(text: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "nvr.yaml"
        path.write_text(text)
        try:
            assert isinstance(load_config(path), Config)
        except ConfigError as err:
            assert one_line(str(err)), str(err)
            assert str(path) in str(err)


@FUZZ
@given(
    path=st.lists(st.sampled_from(SECTIONS + KEYS), min_size=1, max_size=3),
    value=values,
)
def test_any_value_anywhere_in_the_config_is_a_config_or_one_line(
    path: list[str], value: Any
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data = _mutated_config(Path(tmp), path, value)
    _load(yaml.safe_dump(data, allow_unicode=True))


@FUZZ
@given(text=st.text(max_size=200) | values.map(lambda v: yaml.safe_dump(v)))
def test_any_yaml_text_is_a_config_or_one_line(text: str) -> None:
    _load(text)


# -- head office's envelope parser -----------------------------------------------------------
def _envelope(overrides: dict[str, Any]) -> dict[str, Any]:
    good = {"schema": 1, "id": "r-1", "site_id": "smg-01", "kind": "event",
            "created_at": "2026-11-21T08:00:00Z", "seq": 1, "body": {}}  # fmt: skip
    return {**good, **overrides}


envelope_fields = st.dictionaries(
    st.sampled_from(["schema", "id", "site_id", "kind", "created_at", "seq", "body", "x"]),
    values,
    max_size=3,
)


@FUZZ
@given(
    body=st.binary(max_size=200)
    | values.map(lambda v: json.dumps(v).encode())
    | st.lists(envelope_fields.map(_envelope), max_size=3).map(lambda v: json.dumps(v).encode())
    | envelope_fields.map(lambda f: json.dumps(_envelope(f)).encode())
    # Deeper than json.loads recurses: RecursionError, not ValueError (was a 500).
    | st.integers(min_value=500, max_value=3000).map(lambda n: b"[" * n + b"]" * n)
)
def test_any_body_is_envelopes_or_a_400_with_one_line(body: bytes) -> None:
    try:
        envelopes = parse_envelopes(body, "smg-01")
    except Refused as err:
        assert err.status == 400 and one_line(err.reason), err.reason
        return
    assert envelopes and all(e.site_id == "smg-01" for e in envelopes)


# -- the command parser ----------------------------------------------------------------------
command_fields = st.fixed_dictionaries(
    {},
    optional={
        "id": st.from_regex(r"[A-Za-z0-9._:-]{1,64}", fullmatch=True) | values,
        "action": st.sampled_from(["get_status", "snapshot", "request_clip", "reboot"]) | values,
        "args": st.dictionaries(st.text(max_size=10), values, max_size=3) | values,
        "issued_at": st.sampled_from(["now", "old", "bad"]) | values,
        "site": st.sampled_from([SITE, "test-02"]) | values,
        "topic": st.sampled_from([f"control/{SITE}", "control/x"]) | values,
    },
)


def _times(obj: dict[str, Any]) -> dict[str, Any]:
    now = datetime.now(UTC)
    named = {"now": now, "old": now - timedelta(hours=2)}
    issued = obj.get("issued_at")
    if isinstance(issued, str) and issued in named:
        obj["issued_at"] = named[issued].isoformat()
    return obj


@FUZZ
@given(fields=command_fields, sign=st.booleans(), raw=st.none() | st.binary(max_size=100))
def test_any_message_is_a_command_or_a_one_line_refusal(
    fields: dict[str, Any], sign: bool, raw: bytes | None
) -> None:
    obj = _times(dict(fields))
    if sign:
        obj["signature"] = signature(obj, KEY)
    payload = raw if raw is not None else json.dumps(obj).encode()
    now_ms = int(datetime.now(UTC).timestamp() * 1000)
    try:
        command = authenticate(
            read_object(payload), (KEY,), "mqtt", Destination(SITE, f"control/{SITE}")
        )
        check_envelope(command, now_ms, 600)
    except Refusal as refusal:
        assert one_line(refusal.reason), refusal.reason
        assert refusal.command_id is None or isinstance(refusal.command_id, str)
        return
    assert sign and obj["site"] == SITE and obj["topic"] == f"control/{SITE}"
