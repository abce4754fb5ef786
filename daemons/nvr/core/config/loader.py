"""Reading nvr.yaml: one place that turns every problem into one line naming file and key."""

from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import Any, get_args

import yaml
from pydantic import BaseModel, ValidationError

from nvr.core.config.base import ID_PATTERN
from nvr.core.config.model import Config
from nvr.core.errors import ConfigError
from nvr.core.redact import redact_text

DEFAULT_PATH = Path("/etc/nvr/nvr.yaml")
ENV_VAR = "NVR_CONFIG"
# Where the .deb installs the commented example of every key (packaging/deb/build.sh): the
# path a technician on the box can open, unlike one in the source tree.
EXAMPLE_PATH = Path("/usr/share/doc/nvr/examples/nvr.yaml")
# The example config, every key commented, is ~12 KiB; 64 cameras (the most) add ~10 KiB.
# A file ten times that is the wrong file (a log, a dump). Parsing 10 MiB took 8-25 s with
# the pure-Python loader (issue 21) while every daemon waits at start and reload. At the cap
# the C loader takes ~90 ms, Python ~0.8 s (tests/bench/bench_config.py).
MAX_CONFIG_BYTES = 256 << 10
# libyaml's parser, ~10x faster; the pure-Python one where PyYAML was built without it.
_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def resolve_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """`--config` wins over `$NVR_CONFIG`, which wins over /etc/nvr/nvr.yaml."""
    if explicit:
        return Path(explicit)
    env = os.environ.get(ENV_VAR)
    return Path(env) if env else DEFAULT_PATH


def _key_path(loc: tuple[int | str, ...]) -> str:
    """(`cameras`, 1, `id`) → `cameras[1].id`."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part.startswith("function-") or part in ("is-instance[Secret]", "str"):
            continue  # pydantic's internal validator names, meaningless to a technician
        else:
            out += f".{part}" if out else part
    return out or "(top level)"


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The section class inside a field's type (`tuple[CameraConfig, ...]` → CameraConfig)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _known_keys(loc: tuple[int | str, ...]) -> list[str]:
    """The keys the section holding `loc`'s last part accepts (nothing when unknown)."""
    model: type[BaseModel] | None = Config
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part) if model is not None else None
        model = _model_in(field.annotation) if field is not None else None
    return list(model.model_fields) if model is not None else []


def _unknown_key(loc: tuple[int | str, ...]) -> str:
    """The unknown-key message, with the closest known key when there is one (difflib)."""
    key = str(loc[-1]) if loc else ""
    close = difflib.get_close_matches(key, _known_keys(loc), n=1, cutoff=0.6)
    guess = f"did you mean {close[0]!r}? " if close else "check the spelling; "
    return f"unknown key ({guess}every key: `nvrctl config schema` or {EXAMPLE_PATH})"


def _describe(error: Any) -> str:
    """Rephrase pydantic's messages where a technician would be puzzled."""
    kind = error["type"]
    if kind == "extra_forbidden":
        return _unknown_key(tuple(error["loc"]))
    if kind == "missing":
        return "required key is missing"
    if kind == "string_pattern_mismatch" and error.get("ctx", {}).get("pattern") == ID_PATTERN:
        return (
            f"{error['input']!r} is not a valid id: use 1-32 characters of a-z, 0-9, '_' and "
            "'-', starting with a letter or digit (ids become directory and topic names)"
        )
    message = str(error["msg"])
    return message.removeprefix("Value error, ")


def _first_error(path: Path, err: ValidationError) -> str:
    errors = err.errors()
    first = errors[0]
    line = f"{path}: {_key_path(first['loc'])}: {_describe(first)}"
    if len(errors) > 1:
        line += f" (and {len(errors) - 1} more)"
    return redact_text(line)


def _read_text(path: Path) -> str:
    """The file's text, refused past MAX_CONFIG_BYTES before anything is parsed."""
    with path.open("rb") as handle:
        raw = handle.read(MAX_CONFIG_BYTES + 1)
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(
            f"{path}: config file larger than {MAX_CONFIG_BYTES >> 10} KiB"
            f" ({path.stat().st_size / (1 << 20):.1f} MiB): is this the right file?"
        )
    return raw.decode("utf-8")


def read_yaml(path: Path) -> Any:
    """The file's YAML, parsed; every problem a ConfigError naming the file (and line)."""
    try:
        text = _read_text(path)
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except (OSError, UnicodeDecodeError) as err:
        reason = getattr(err, "strerror", None) or str(err)
        raise ConfigError(f"{path}: cannot read config file: {reason}") from None
    try:
        # _LOADER is a SafeLoader (C or Python): plain data only, never arbitrary objects.
        return yaml.load(text, Loader=_LOADER)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "YAML"
        problem = getattr(err, "problem", None) or "invalid YAML"
        raise ConfigError(f"{path}: {where}: {problem}") from None


def parse_config(data: Any, path: Path) -> Config:
    """Validate already-parsed YAML; errors name `path` and the key."""
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping of sections")
    try:
        config = Config.model_validate(data)
    except ValidationError as err:
        # `from None`: the pydantic traceback can echo input values, secrets included.
        raise ConfigError(_first_error(path, err)) from None
    duplicate = config.duplicate_camera()
    if duplicate is not None:
        first, second = duplicate
        camera_id = config.cameras[second].id
        raise ConfigError(
            f"{path}: cameras[{second}].id: duplicate camera id {camera_id!r} "
            f"(already used by cameras[{first}])"
        )
    return config


def load_config(explicit: str | os.PathLike[str] | None = None) -> Config:
    """Load and validate the config; raises ConfigError with one line."""
    path = resolve_path(explicit)
    return parse_config(read_yaml(path), path)
