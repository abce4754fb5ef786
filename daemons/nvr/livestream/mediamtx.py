"""A small client of mediamtx's control API v3 (tested against v1.20.1).

What it relies on: `/v3/info` gives `version`; lists are paginated (`itemsPerPage`,
`page`, answer `pageCount` and `items`); `/v3/config/paths/add|patch|delete/{name}` change
a path; `/v3/paths/list` gives the live state (`available`, not `online`, says a source is
really streaming). Config reads carry camera URLs with passwords: this module hands back
only the few keys the caller compares, and error messages never include an answer's body
unredacted.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import requests

from nvr.core.config.livestream import LivestreamConfig
from nvr.core.redact import Secret, redact_text
from nvr.livestream.constants import API_TIMEOUT_SECONDS, ITEMS_PER_PAGE, MEDIAMTX_API_USER
from nvr.livestream.errors import MediamtxRefused, MediamtxUnreachable

log = logging.getLogger(__name__)

# The keys of a path's configuration that nvr-livestream owns and compares.
MANAGED_KEYS = ("source", "sourceOnDemand", "rtspTransport")


@dataclass(frozen=True)
class LivePath:
    """What mediamtx says about one path right now."""

    name: str
    available: bool
    readers: int
    inbound_bytes: int


@dataclass(frozen=True)
class ApiCredentials:
    """The login our auth callback asks of mediamtx API callers (security.md, invariant 5)."""

    user: str
    password: Secret

    @classmethod
    def for_config(cls, section: LivestreamConfig) -> ApiCredentials:
        """The configured secret, else a random one that lives in this process only."""
        password = section.mediamtx_api_secret or Secret(secrets.token_urlsafe(32))
        return cls(MEDIAMTX_API_USER, password)

    def match(self, user: str, password: str) -> bool:
        """True for exactly these credentials (constant-time)."""
        given = f"{user}\0{password}".encode("utf-8", "replace")
        return hmac.compare_digest(given, f"{self.user}\0{self.password.reveal()}".encode())


class MediamtxClient:
    """Calls to one mediamtx control API; the HTTP session is injectable for tests."""

    def __init__(
        self,
        base_url: str,
        credentials: ApiCredentials | None = None,
        session: requests.Session | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._session = session or requests.Session()
        if credentials is not None:
            self._session.auth = (credentials.user, credentials.password.reveal())

    def close(self) -> None:
        """Release the HTTP connections."""
        self._session.close()

    def _call(self, method: str, endpoint: str, body: Mapping[str, Any] | None = None) -> Any:
        url = self.base_url + endpoint
        try:
            response = self._session.request(method, url, json=body, timeout=API_TIMEOUT_SECONDS)
        except requests.RequestException as err:
            raise MediamtxUnreachable(
                f"mediamtx API {self.base_url} not answering: {type(err).__name__}"
            ) from None
        if response.status_code >= 400:
            raise MediamtxRefused(
                f"mediamtx {method} {endpoint}: {response.status_code} "
                f"{redact_text(_error_text(response))}"
            )
        return response.json() if response.content else None

    def _list(self, endpoint: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        page = 0
        while True:
            answer = self._call("GET", f"{endpoint}?itemsPerPage={ITEMS_PER_PAGE}&page={page}")
            items.extend(answer.get("items") or [])
            page += 1
            if page >= int(answer.get("pageCount") or 0):
                return items

    def version(self) -> str:
        """The version string of mediamtx, e.g. `v1.20.1`."""
        return str(self._call("GET", "/v3/info").get("version", "unknown")).strip()

    def global_settings(self, keys: tuple[str, ...]) -> dict[str, Any]:
        """Only `keys` of mediamtx's running global config (the rest is not ours to hold)."""
        answer = self._call("GET", "/v3/config/global/get") or {}
        return {key: answer.get(key) for key in keys}

    def configured_paths(self) -> dict[str, dict[str, Any]]:
        """Every configured path: name → only the managed keys (see MANAGED_KEYS)."""
        return {
            str(item["name"]): {key: item.get(key) for key in MANAGED_KEYS}
            for item in self._list("/v3/config/paths/list")
        }

    def live_paths(self) -> dict[str, LivePath]:
        """The live state of every path mediamtx has now."""
        return {
            str(item["name"]): LivePath(
                name=str(item["name"]),
                available=bool(item.get("available")),
                readers=len(item.get("readers") or []),
                inbound_bytes=int(item.get("inboundBytes") or 0),
            )
            for item in self._list("/v3/paths/list")
        }

    def add_path(self, name: str, settings: Mapping[str, Any]) -> None:
        """Create a path."""
        self._call("POST", f"/v3/config/paths/add/{quote(name, safe='')}", settings)

    def patch_path(self, name: str, settings: Mapping[str, Any]) -> None:
        """Change some keys of a path (this recreates it: its viewers are dropped)."""
        self._call("PATCH", f"/v3/config/paths/patch/{quote(name, safe='')}", settings)

    def delete_path(self, name: str) -> None:
        """Remove a path."""
        self._call("DELETE", f"/v3/config/paths/delete/{quote(name, safe='')}")


def _error_text(response: requests.Response) -> str:
    """The `{"error": ...}` message of mediamtx, or nothing."""
    try:
        return str(response.json().get("error", ""))[:200]
    except (ValueError, AttributeError):
        return ""
