"""Building blocks shared by every config section: the strict base model and secret types."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, GetCoreSchemaHandler
from pydantic_core import core_schema

from nvr.core.redact import Secret, SecretUrl

# Camera ids become directory names, mediamtx path names, metric labels and MQTT topic
# levels: keep them to a character set that is safe in all four.
ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,31}$"

Identifier = Annotated[str, Field(pattern=ID_PATTERN, description="lowercase id, [a-z0-9_-]")]


class Section(BaseModel):
    """Base of every config section: immutable, and unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)


def _secret_schema(cls: type[Any], wrap: Any) -> core_schema.CoreSchema:
    """Validate a plain string into `cls`, and serialise it back redacted."""
    return core_schema.no_info_after_validator_function(
        wrap,
        core_schema.union_schema(
            [core_schema.is_instance_schema(cls), core_schema.str_schema(min_length=1)]
        ),
        serialization=core_schema.plain_serializer_function_ser_schema(str),
    )


def _to_secret(value: Secret | str) -> Secret:
    return value if isinstance(value, Secret) else Secret(value)


def _to_secret_url(value: SecretUrl | str) -> SecretUrl:
    return value if isinstance(value, SecretUrl) else SecretUrl(value)


class _SecretAnnotation:
    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: type[Any], handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return _secret_schema(Secret, _to_secret)


class _SecretUrlAnnotation:
    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: type[Any], handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return _secret_schema(SecretUrl, _to_secret_url)


SecretStr = Annotated[Secret, _SecretAnnotation]
SecretUrlStr = Annotated[SecretUrl, _SecretUrlAnnotation]


def read_secret_file(path: str, key: str) -> str:
    """Read a `*_file` secret: the file's content without the trailing newline.

    Raises ValueError naming the key and the path (never the content).
    """
    try:
        value = Path(path).read_text(encoding="utf-8").rstrip("\r\n")
    except OSError as err:
        raise ValueError(f"{key}: cannot read {path}: {err.strerror or err}") from err
    if not value:
        raise ValueError(f"{key}: {path} is empty")
    return value


def inline_secret_file(data: Any, key: str) -> Any:
    """Replace `<key>_file: PATH` in raw input by `<key>: <content of PATH>`.

    Used by sections that accept a secret either inline or from a file; giving both is an
    error because one of them would be silently ignored.
    """
    file_key = f"{key}_file"
    if not isinstance(data, dict) or file_key not in data:
        return data
    if data.get(key) is not None:
        raise ValueError(f"give either {key} or {file_key}, not both")
    data = dict(data)
    data[key] = read_secret_file(str(data.pop(file_key)), file_key)
    return data
