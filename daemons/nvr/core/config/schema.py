"""The documented schema of nvr.yaml, built from the models (what `nvrctl config schema` prints).

One source: the JSON Schema pydantic derives from the section models, descriptions
included; the readable form (key, type, default, description) is read back out of it,
so the two never disagree and a field added without a description shows as a hole.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from nvr.core.config.model import Config

# A list's items are written `key[].field` (cameras[].id, livestream.viewers[].user).
ITEMS = "[]"


@dataclass(frozen=True)
class KeyDoc:
    """One key of nvr.yaml as the schema documents it."""

    path: str
    type: str
    default: str  # `default <JSON>`, `required`, or empty for an optional section
    description: str


def json_schema() -> dict[str, Any]:
    """JSON Schema (2020-12) of nvr.yaml as validated on load."""
    return Config.model_json_schema(mode="validation")


def _resolve(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    return defs[ref.rsplit("/", 1)[1]] if isinstance(ref, str) else node


def _variants(node: dict[str, Any], defs: dict[str, Any]) -> list[dict[str, Any]]:
    """The non-null alternatives of a node, references resolved."""
    options = node.get("anyOf", [node])
    return [_resolve(option, defs) for option in options if option.get("type") != "null"]


def _type_name(node: dict[str, Any], defs: dict[str, Any]) -> str:
    names = []
    for option in _variants(node, defs):
        if "prefixItems" in option:  # a fixed-length tuple, e.g. a region [x, y, w, h]
            items = ", ".join(_type_name(item, defs) for item in option["prefixItems"])
            names.append(f"[{items}]")
        elif "enum" in option:
            names.append("|".join(str(value) for value in option["enum"]))
        elif option.get("type") == "array":
            names.append(f"list of {_type_name(option.get('items', {}), defs)}")
        elif "properties" in option:
            names.append("section")
        else:
            names.append(str(option.get("type", "any")))
    nullable = any(option.get("type") == "null" for option in node.get("anyOf", []))
    return " or ".join(names + (["null"] if nullable else []))


def _children(node: dict[str, Any], defs: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """The nested section under a key, with the suffix its keys get ("" or "[]")."""
    for option in _variants(node, defs):
        if "properties" in option:
            return "", option
        items = _resolve(option.get("items", {}), defs)
        if option.get("type") == "array" and "properties" in items:
            return ITEMS, items
    return None


def _walk(section: dict[str, Any], defs: dict[str, Any], prefix: str) -> Iterator[KeyDoc]:
    for name, node in section.get("properties", {}).items():
        path = f"{prefix}{name}"
        nested = _children(node, defs)
        default = "required" if name in section.get("required", ()) else ""
        if "default" in node and nested is None:
            default = f"default {json.dumps(node['default'])}"
        yield KeyDoc(path, _type_name(node, defs), default, str(node.get("description", "")))
        if nested is not None:
            suffix, child = nested
            yield from _walk(child, defs, f"{path}{suffix}.")


def documented_keys(schema: dict[str, Any] | None = None) -> list[KeyDoc]:
    """Every key of nvr.yaml, sections first and their keys after them, in model order."""
    schema = schema or json_schema()
    return list(_walk(schema, schema.get("$defs", {}), ""))


def render_text(keys: list[KeyDoc]) -> str:
    """One block per key: `path  (type; default)` and its description indented below."""
    lines = []
    for key in keys:
        lines.append(f"{key.path}  ({'; '.join(filter(None, (key.type, key.default)))})")
        lines.append(f"    {key.description}")
    return "\n".join(lines) + "\n"
