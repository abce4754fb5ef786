"""`nvrctl config schema`: every key documented, and the example nvr.yaml holds no other key."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.timeout(60)

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "etc" / "nvr" / "nvr.yaml"


def run(nvrctl: list[str], *args: str) -> str:
    done = subprocess.run(
        [*nvrctl, "config", "schema", *args], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    return done.stdout


def yaml_keys(value: Any, prefix: str = "") -> Iterator[str]:
    """Every key path of a YAML document, list items written `key[].field`."""
    if isinstance(value, dict):
        for key, item in value.items():
            path = f"{prefix}{key}"
            yield path
            if isinstance(item, dict):
                yield from yaml_keys(item, f"{path}.")
            elif isinstance(item, list):
                for entry in item:
                    yield from yaml_keys(entry, f"{path}[].")


def schema_fields(schema: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(model.field, node) of every property of the root and every definition."""
    models = {"Config": schema, **schema["$defs"]}
    for model, node in models.items():
        for field, prop in node.get("properties", {}).items():
            yield f"{model}.{field}", prop


def test_schema_documents_every_key_and_the_example_uses_only_those(nvrctl: list[str]) -> None:
    text = run(nvrctl)
    documented = {line.split("  (", 1)[0] for line in text.splitlines() if "  (" in line}
    example = set(yaml_keys(yaml.safe_load(EXAMPLE.read_text())))
    assert example, "the example config parsed to nothing"
    assert example <= documented, f"keys of {EXAMPLE} not in the schema: {example - documented}"
    # The readable form: key, type, default, then the description on the next line.
    lines = text.splitlines()
    stale = lines.index("health.heartbeat_stale_factor  (number; default 3.0)")
    assert lines[stale + 1].strip() == "stale after this many promised intervals"
    assert "cameras[].url  (string; required)" in lines
    assert 'recording.container  (fmp4|mpegts; default "fmp4")' in lines

    schema = json.loads(run(nvrctl, "--json"))
    assert schema["additionalProperties"] is False  # unknown keys are errors
    undocumented = [name for name, prop in schema_fields(schema) if not prop.get("description")]
    assert undocumented == []
    fields = dict(schema_fields(schema))
    # Same count both ways: the readable form leaves no property out.
    assert len(fields) == len(documented)
    # Secrets are documented as strings; no default secret leaks into the schema.
    assert fields["MqttConfig.password"]["default"] is None
