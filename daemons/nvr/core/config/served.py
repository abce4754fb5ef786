"""What every served section shares: `listen`, and HTTPS on `tls_listen` (livestream, health)."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import ClassVar

from pydantic import Field, field_validator, model_validator

from nvr.core.config.base import Section


def _check_listen(value: str) -> str:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"must be HOST:PORT, got {value!r}")
    return value


class ListenMixin(Section):
    """A section with a `listen: HOST:PORT` key."""

    listen: str = Field(description="HOST:PORT of plain HTTP")

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        return _check_listen(value)


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and `localhost`: addresses only this machine can reach."""
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class ServedSection(ListenMixin):
    """A daemon's HTTP endpoints: plain HTTP on `listen`, HTTPS on `tls_listen`.

    Plain HTTP beyond this machine needs the operator's word (docs/design/security.md,
    invariant 3): a password typed into a plain-HTTP page crosses the LAN readable.
    """

    tls_listen: str | None = Field(
        default=None, description="HOST:PORT served over HTTPS (e.g. 0.0.0.0:8443); none: off"
    )
    tls_cert_file: Path = Field(
        default=Path("/etc/nvr/tls/nvr.crt"),
        description="PEM certificate (chain) for tls_listen; the installer makes a self-signed one",
    )
    tls_key_file: Path = Field(
        default=Path("/etc/nvr/tls/nvr.key"), description="PEM private key for tls_listen"
    )
    plain_http_anywhere: bool = Field(
        default=False, description="allow `listen` on an address other machines can reach"
    )

    @field_validator("tls_listen")
    @classmethod
    def _tls_listen(cls, value: str | None) -> str | None:
        return None if value is None else _check_listen(value)

    # Refused when the config loads, so every daemon refuses the file: right for sections
    # every box has had since install. A section whose rule came later (hse) leaves the
    # refusal to its own daemon (plain_exposure at its start): a box upgraded with an old
    # `listen: 0.0.0.0:...` there must keep recording (recording first).
    refuse_plain_at_load: ClassVar[bool] = True

    @model_validator(mode="after")
    def _plain_only_on_loopback(self) -> ServedSection:
        problem = plain_exposure(self)
        if problem is not None and self.refuse_plain_at_load:
            raise ValueError(problem)
        return self


def plain_exposure(section: ServedSection) -> str | None:
    """What is wrong when `listen` serves plain HTTP beyond this machine unasked, else None."""
    host = section.listen.rpartition(":")[0]
    if is_loopback(host) or section.plain_http_anywhere:
        return None
    return (
        f"listen {section.listen} would serve plain HTTP to the network: serve the LAN"
        " on tls_listen, or set plain_http_anywhere: true"
    )
