"""The URLs a viewer opens for a camera's live view (mediamtx's RTSP, HLS and WebRTC).

Shared by nvr-livestream's viewer API, nvr-hse's camera list and `nvrctl streams`, so the
HSE backend and a viewer are handed the same URLs. No credentials in them: viewers log in.
Also the URLs the HSE backend registers the box by (`hse_urls`: api_url, alarm_ws_url,
webrtc_url), https/wss when nvr-hse serves TLS.
"""

from __future__ import annotations

from pathlib import Path

from nvr.core.config import Config
from nvr.core.config.hse import HseConfig
from nvr.core.config.livestream import LivestreamConfig, MediaTls
from nvr.core.errors import ConfigError
from nvr.core.netaddr import primary_address

# Hosts a server binds to mean "every address": no use in a URL another machine opens.
ANY_ADDRESS = ("", "0.0.0.0", "::", "[::]")

PEM_START = b"-----BEGIN "


def pem_usable(path: Path) -> bool:
    """Whether `path` holds a PEM file.

    The mediamtx unit's SetCredential= fallback (`absent`) stands in for a missing one.
    """
    try:
        with path.open("rb") as handle:
            return handle.read(len(PEM_START)) == PEM_START
    except OSError:
        return False


def tls_wanted(section: LivestreamConfig, pair_present: bool) -> bool:
    """`media_tls` resolved: `auto` is on when the certificate and key are there."""
    if section.media_tls is MediaTls.AUTO:
        return pair_present
    return section.media_tls is MediaTls.ON


def viewer_tls(section: LivestreamConfig) -> bool:
    """Whether viewer URLs are https:// and rtsps:// (the box's pair, as nvr-livestream sees it).

    The key only has to exist: an operator's own key may be root's alone, which mediamtx
    still gets through systemd.
    """
    return tls_wanted(section, pem_usable(section.tls_cert_file) and section.tls_key_file.exists())


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
    if viewer_tls(section):  # security.md, invariant 9: plain RTSP is loopback only then
        rtsp, web = f"rtsps://{host}:{section.rtsps_port}", "https"
    else:
        rtsp, web = f"rtsp://{host}:{section.rtsp_port}", "http"
    return {
        "rtsp": f"{rtsp}/{camera_id}",
        "hls": f"{web}://{host}:{section.hls_port}/{camera_id}/index.m3u8",
        "webrtc": f"{web}://{host}:{section.webrtc_port}/{camera_id}/",
    }


def hse_base(config: Config, section: HseConfig) -> str:
    """Where the centre reaches nvr-hse: `hse.public_url`, else tls_listen, else listen.

    TLS wins when it is on: plain HTTP on loopback is for this machine, and plain HTTP
    beyond it is the operator's exception (security.md, invariant 3). A wildcard bind
    address is replaced by the box's public host, as for the viewer URLs.
    """
    if section.public_url:
        return section.public_url.rstrip("/")
    scheme, listen = "http", section.listen
    if section.tls_listen is not None:
        scheme, listen = "https", section.tls_listen
    host, _, port = listen.rpartition(":")
    if host in ANY_ADDRESS:
        host = public_host(config)
        host = f"[{host}]" if ":" in host else host
    return f"{scheme}://{host}:{port}"


def hse_urls(config: Config, section: HseConfig) -> dict[str, str]:
    """The backend's registry row for this box: api_url, alarm_ws_url, webrtc_url."""
    base = hse_base(config, section)
    ws = base.replace("http", "ws", 1)  # https:// becomes wss://, http:// ws://
    return {
        "api_url": f"{base}/api",
        "alarm_ws_url": f"{ws}/alarm/",
        "webrtc_url": f"{base}/webrtc",
    }
