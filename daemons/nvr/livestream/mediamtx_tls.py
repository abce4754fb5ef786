"""TLS for viewers on mediamtx: the settings rendered into its config at start.

See docs/design/security.md, invariant 9. With `livestream.media_tls` on, mediamtx serves
HLS and WebRTC over HTTPS only, RTSP over TLS on `rtsps_port`, and plain RTSP on
127.0.0.1 only (nvr-backup publishes single-session cameras there), so a viewer's password
never crosses the LAN readable.

mediamtx runs as a throwaway systemd user (DynamicUser=) that cannot read the box's key:
its unit hands it the pair with LoadCredential=, and `nvrctl mediamtx config` (its
ExecStartPre=, as root) writes /etc/mediamtx/mediamtx.yml plus these settings to the file
mediamtx reads. Why not mediamtx's API, as for the paths: a configuration reload that
cannot load a certificate makes mediamtx v1.20.1 exit, so a wrong path sent at run time
would keep live view down in a restart loop; a rendered file fails once, at start, and says
why.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from nvr.core.config.livestream import LivestreamConfig
from nvr.core.viewer_urls import pem_usable, tls_wanted
from nvr.livestream.errors import LivestreamError

# The credential names in mediamtx.service (LoadCredential=nvr.crt:/etc/nvr/tls/nvr.crt).
CERT_CREDENTIAL = "nvr.crt"
KEY_CREDENTIAL = "nvr.key"
LOOPBACK_HOST = "127.0.0.1"
# The keys of mediamtx's running config that say whether it encrypts (`served_tls`).
TLS_KEYS = ("hlsEncryption", "webrtcEncryption", "rtspEncryption")


def _host(address: str) -> str:
    return address.rpartition(":")[0]


def _port(address: str) -> str:
    return address.rpartition(":")[2]


def tls_settings(
    base: Mapping[str, Any], section: LivestreamConfig, cert: Path, key: Path
) -> dict[str, Any]:
    """The mediamtx keys that put its viewer-facing servers behind TLS.

    Plain RTSP keeps its port but moves to loopback; RTSPS listens where HLS does (every
    address on a box, loopback in the tests).
    """
    pair = {"ServerCert": str(cert), "ServerKey": str(key)}
    settings: dict[str, Any] = {
        "rtspEncryption": "optional",
        "rtspAddress": f"{LOOPBACK_HOST}:{_port(str(base.get('rtspAddress', ':8554')))}",
        "rtspsAddress": f"{_host(str(base.get('hlsAddress', '')))}:{section.rtsps_port}",
        "hlsEncryption": True,
        "webrtcEncryption": True,
    }
    for server in ("rtsp", "hls", "webrtc"):
        settings.update({server + name: value for name, value in pair.items()})
    return settings


def render(base: Mapping[str, Any], section: LivestreamConfig, credentials: Path) -> dict[str, Any]:
    """Mediamtx's config: `base` with TLS when `media_tls` says so.

    LivestreamError when `media_tls: on` and the unit handed mediamtx no certificate.
    """
    cert, key = credentials / CERT_CREDENTIAL, credentials / KEY_CREDENTIAL
    loaded = pem_usable(cert) and pem_usable(key)
    config = dict(base)
    if tls_wanted(section, loaded):
        if not loaded:
            raise LivestreamError(
                f"livestream.media_tls is on but mediamtx got no certificate and key in"
                f" {credentials} (from /etc/nvr/tls): make them with `nvrctl tls self-signed`"
                " or set media_tls: off"
            )
        config.update(tls_settings(base, section, cert, key))
    return config


def served_tls(global_config: Mapping[str, Any]) -> bool:
    """True when mediamtx's running config encrypts HLS, WebRTC and RTSP."""
    return (
        bool(global_config.get("hlsEncryption"))
        and bool(global_config.get("webrtcEncryption"))
        and str(global_config.get("rtspEncryption", "no")) != "no"
    )
