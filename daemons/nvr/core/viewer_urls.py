"""The URLs a viewer opens for a camera's live view (mediamtx's RTSP, HLS and WebRTC).

Shared by nvr-livestream's viewer API, nvr-hse's camera list and `nvrctl streams`, so the
HSE backend and a viewer are handed the same URLs. No credentials in them: viewers log in.
"""

from __future__ import annotations

from nvr.core.config import Config
from nvr.core.errors import ConfigError
from nvr.core.netaddr import primary_address


def public_host(config: Config) -> str:
    """`livestream.public_host`, else the primary address; ConfigError when neither.

    127.0.0.1 would hand LAN viewers URLs that point at their own machine.
    """
    host = config.livestream.public_host or primary_address()
    if host is None:
        raise ConfigError(
            "livestream.public_host is not set and this box has no default route to take"
            " its address from: set livestream.public_host to the address viewers reach"
        )
    return host


def stream_urls(config: Config, camera_id: str) -> dict[str, str]:
    """RTSP, HLS and WebRTC URLs of one camera."""
    section = config.livestream
    host = public_host(config)
    if ":" in host:
        host = f"[{host}]"  # IPv6 literal
    return {
        "rtsp": f"rtsp://{host}:{section.rtsp_port}/{camera_id}",
        "hls": f"http://{host}:{section.hls_port}/{camera_id}/index.m3u8",
        "webrtc": f"http://{host}:{section.webrtc_port}/{camera_id}/",
    }
