"""Where the playback page of a camera is: for `nvrctl play` and nvr-health's timeline.

The page is served by nvr-livestream (docs/design/playback.md): over HTTPS on
`livestream.tls_listen` when set (the LAN), else on `livestream.listen` (loopback by
default: a URL for a browser on the box itself).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from nvr.core.config import Config
from nvr.core.netaddr import primary_address
from nvr.core.timeutil import format_ms


@dataclass(frozen=True)
class PlaybackServer:
    """Scheme, port and (when known) host of the playback page."""

    scheme: str
    port: int
    host: str | None  # None: the address the viewer already uses for the box
    loopback_only: bool

    def base(self, fallback_host: str) -> str:
        """`https://host:port` with `fallback_host` when no host is configured."""
        host = self.host or fallback_host
        if ":" in host:
            host = f"[{host}]"  # IPv6 literal
        return f"{self.scheme}://{host}:{self.port}"


def playback_server(config: Config) -> PlaybackServer:
    """Where nvr-livestream serves the playback page."""
    section = config.livestream
    listen = section.tls_listen or section.listen
    host, _, port = listen.rpartition(":")
    host = host.strip("[]")
    loopback = host in ("127.0.0.1", "::1", "localhost")
    public = section.public_host or (host if loopback else None)
    return PlaybackServer("https" if section.tls_listen else "http", int(port), public, loopback)


def page_path(camera: str, at_ms: int) -> str:
    """`/view/cam01?at=2026-11-21T07:00:00.000Z`."""
    return f"/view/{quote(camera)}?at={format_ms(at_ms)}"


def playback_url(config: Config, camera: str, at_ms: int) -> str:
    """The full URL, the box's primary address standing in for an unset public host."""
    server = playback_server(config)
    return server.base(primary_address() or "127.0.0.1") + page_path(camera, at_ms)
