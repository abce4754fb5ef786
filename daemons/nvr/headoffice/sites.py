"""The sites file: which sites may report, with the secret each one signs with.

```yaml
sites:
  smg-01: {secret_file: /etc/nvr-headoffice/smg-01.key, name: Semarang plant}
  smg-02: {secret: "inline secret"}
  smg-03:                       # rotating: both secrets sign until previous_until
    secret_file: /etc/nvr-headoffice/smg-03.key
    previous_secret_file: /etc/nvr-headoffice/smg-03.key.previous
    previous_until: 2026-12-02T00:00:00Z
replay_window_seconds: 300
heartbeat_timeout_seconds: 120  # optional: offline without a heartbeat this long
```
Secrets become `Secret` objects at once; no message about this file ever prints one.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import yaml
from pydantic import AwareDatetime, Field, ValidationError, model_validator

from nvr.core.config.base import Identifier, SecretStr, Section, inline_secret_file
from nvr.core.redact import Secret, redact_text
from nvr.core.signing import REPLAY_WINDOW_SECONDS
from nvr.headoffice.errors import SitesFileError

log = logging.getLogger(__name__)


class SiteEntry(Section):
    """One site: the HMAC secret its nvr-uplink signs with (uplink.head_office.secret)."""

    secret: SecretStr
    name: str = Field(default="", max_length=200, description="shown on the pages")
    previous_secret: SecretStr | None = Field(
        default=None, description="the secret before a rotation, accepted until previous_until"
    )
    previous_until: AwareDatetime | None = None

    @model_validator(mode="before")
    @classmethod
    def _secret_file(cls, data: Any) -> Any:
        return inline_secret_file(inline_secret_file(data, "secret"), "previous_secret")

    @model_validator(mode="after")
    def _previous_needs_an_end(self) -> SiteEntry:
        if (self.previous_secret is None) != (self.previous_until is None):
            raise ValueError("previous_secret and previous_until go together")
        return self

    def secrets(self, now: float) -> tuple[Secret, ...]:
        """The secret, then the previous one until previous_until (a rotation in progress)."""
        if self.previous_secret is None or self.previous_until is None:
            return (self.secret,)
        if now < self.previous_until.timestamp():
            return (self.secret, self.previous_secret)
        return (self.secret,)


class SitesFile(Section):
    """Every site that may report, and how old a signature may be."""

    sites: dict[Identifier, SiteEntry] = Field(min_length=1, description="site id -> secret")
    replay_window_seconds: int = Field(
        default=REPLAY_WINDOW_SECONDS,
        ge=1,
        le=86_400,
        description="a signature timestamp further than this from our clock is refused",
    )
    heartbeat_timeout_seconds: int = Field(
        default=120,
        ge=1,
        le=86_400,
        description="a site without a heartbeat for this long is shown offline (/api/heartbeats)",
    )

    def secret(self, site_id: str) -> Secret | None:
        """The site's secret, or None for a site this receiver does not know."""
        entry = self.sites.get(site_id)
        return entry.secret if entry is not None else None

    def secrets(self, site_id: str, now: float) -> tuple[Secret, ...]:
        """The secrets a site may sign with now (two during a rotation); () when unknown."""
        entry = self.sites.get(site_id)
        return entry.secrets(now) if entry is not None else ()

    def name(self, site_id: str) -> str:
        """The site's display name ("" when none or unknown)."""
        entry = self.sites.get(site_id)
        return entry.name if entry is not None else ""


def load_sites(path: Path) -> SitesFile:
    """Read and validate the sites file; raises SitesFileError with one line naming the key."""
    data = _read_yaml(path)
    if not isinstance(data, dict):
        raise SitesFileError(f"{path}: top level must be a mapping with a `sites` key")
    try:
        return SitesFile.model_validate(data)
    except ValidationError as err:
        # `from None`: pydantic's text can echo input values, and an input may be a secret.
        raise SitesFileError(_first_error(path, err)) from None


def _read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        reason = getattr(err, "strerror", None) or str(err)
        raise SitesFileError(f"{path}: cannot read sites file: {reason}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "YAML"
        raise SitesFileError(f"{path}: {where}: {getattr(err, 'problem', None) or err}") from None


def _internal(part: str) -> bool:
    """Pydantic's validator names in a key path, meaningless to whoever edits the file."""
    return part.startswith("function-") or part in ("is-instance[Secret]", "str", "constrained-str")


def _first_error(path: Path, err: ValidationError) -> str:
    """`sites.smg-01.secret_file: cannot read ...`: the first problem, with its key path."""
    # A secret is a union (Secret or text): pydantic reports both branches; the text one
    # is what a person typed.
    errors = [e for e in err.errors() if "is-instance[Secret]" not in e["loc"]] or err.errors()
    first = errors[0]
    keys = [str(part) for part in first["loc"] if not _internal(str(part))]
    where = ".".join(keys).replace(".[key]", " (site id)") or "(top level)"
    kind = first["type"]
    if kind == "extra_forbidden":
        message = "unknown key (a site takes `secret` or `secret_file`, and `name`)"
    elif kind == "missing":
        message = "required key is missing (a site needs `secret` or `secret_file`)"
    elif kind == "string_pattern_mismatch":
        message = f"{first['input']!r} is not a valid site id (1-32 of a-z, 0-9, '_', '-')"
    else:
        message = str(first["msg"]).removeprefix("Value error, ")
    more = len(errors) - 1
    line = f"{path}: {where}: {message}" + (f" (and {more} more)" if more else "")
    return redact_text(line)


class LiveSites:
    """The sites file as last loaded; `reload()` (on SIGHUP) swaps in a new valid one.

    Request threads read `current` once per request: swapping one attribute is atomic, so
    a request sees the old file or the new one, never half of each.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.current = load_sites(path)

    def reload(self) -> None:
        """Load the file again; a file that does not validate is rejected, the old one kept."""
        try:
            self.current = load_sites(self.path)
        except SitesFileError as err:
            log.error("reload rejected, keeping the running sites: %s", err)
            return
        log.info("sites file reloaded: %d sites", len(self.current.sites))
