"""What can still be read from a config file that does not validate.

A broken file must not cost the technician the dashboard (issue 24): the daemons keep
running on the config they loaded, and `nvrctl status` and a daemon refused at start
still need to find the state file. Nothing here is used to run anything: the daemons only
ever run on a config that validated.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from nvr.core.config.loader import MAX_CONFIG_BYTES, read_yaml
from nvr.core.config.model import Config
from nvr.core.config.storage import StorageConfig
from nvr.core.errors import ConfigError

# Each round drops the keys pydantic complained about; a file with more broken keys than
# this is not worth salvaging.
MAX_ROUNDS = 20
_STATE_FILE_LINE = re.compile(r"^\s+state_file:\s*(\S+)", re.MULTILINE)


def _raw(path: Path) -> dict[str, Any]:
    try:
        data = read_yaml(path)
    except ConfigError:
        return {}
    return data if isinstance(data, dict) else {}


def state_file_of(path: Path) -> Path:
    """storage.state_file as the file writes it, else the default.

    When the YAML does not parse, the first `state_file:` line is taken at its word.
    """
    storage = _raw(path).get("storage")
    value = storage.get("state_file") if isinstance(storage, dict) else None
    if not isinstance(value, str) or not value:
        value = _state_file_line(path)
    return Path(value) if value else StorageConfig().state_file


def _state_file_line(path: Path) -> str | None:
    try:
        text = path.read_text(errors="replace")[:MAX_CONFIG_BYTES]
    except OSError:
        return None
    found = _STATE_FILE_LINE.search(text)
    return found.group(1).strip("'\"") if found else None


# A list item to leave out: removed after the round, so the indexes of the round's other
# errors still point at their items.
_GONE = object()


def _node(data: Any, parents: list[int | str]) -> Any:
    node = data
    for part in parents:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return None
    return node


def _drop(data: Any, loc: tuple[int | str, ...]) -> bool:
    """Leave out the innermost key at `loc`, else the list item holding it.

    The item goes when its own key cannot (a camera whose required `url` is missing).
    """
    for depth in range(len(loc), 0, -1):
        *parents, last = loc[:depth]
        node = _node(data, parents)
        if isinstance(node, dict) and last in node:
            del node[last]
            return True
        if isinstance(node, list) and isinstance(last, int) and 0 <= last < len(node):
            if node[last] is not _GONE:
                node[last] = _GONE
            return True
    return False


def _purge(value: Any) -> Any:
    """`value` without the list items marked _GONE."""
    if isinstance(value, dict):
        return {key: _purge(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_purge(item) for item in value if item is not _GONE]
    return value


def salvage_config(path: Path) -> tuple[Config, list[str]] | None:
    """The config with every key that fails validation left out, and those keys' paths.

    None when even that does not validate (a required key is missing or the YAML does not
    parse): the caller then has only the state file.
    """
    data = _raw(path)
    dropped: list[str] = []
    for _ in range(MAX_ROUNDS):
        try:
            return Config.model_validate(data), dropped
        except ValidationError as err:
            errors = err.errors()
            removed = [e["loc"] for e in errors if _drop(data, e["loc"])]
            if not removed:
                return None
            data = _purge(data)
            dropped.extend(".".join(str(p) for p in loc) for loc in removed)
    return None


def state_only_config(path: Path) -> Config:
    """The defaults, with the state file the broken file names: enough to read the state.

    For a file salvage_config cannot rescue (YAML that does not parse, no site.id). The
    site then reads "unknown" and no camera is checked; daemons and disk still are.
    """
    return Config.model_validate(
        {"site": {"id": "unknown"}, "storage": {"state_file": str(state_file_of(path))}}
    )
