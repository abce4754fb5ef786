"""ONVIF, the little an NVR needs of it: WS-Discovery and GetStreamUri (issue 24).

`nvrctl camera discover` multicasts a WS-Discovery Probe for NetworkVideoTransmitters, then
asks each camera that answers for its media service (GetCapabilities), its first profile
(GetProfiles) and that profile's RTSP URI (GetStreamUri), authenticated with a WS-Security
UsernameToken (password digest). The camera simulator answers the same messages
(nvr_camsim.onvif), so both sides share the message texts and the digest here.

Answers come from the LAN: each is read up to MAX_ANSWER_BYTES and parsed by the standard
library's expat, which refuses entity expansion bombs.
"""

from __future__ import annotations

import base64
import hashlib
import os
import socket
import time
import urllib.error
import urllib.request
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime

MULTICAST = ("239.255.255.250", 3702)
MAX_ANSWER_BYTES = 64 << 10
DISCOVERY_SECONDS = 2.0
REQUEST_SECONDS = 5.0

NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "a": "http://schemas.xmlsoap.org/ws/2004/08/addressing",
    "d": "http://schemas.xmlsoap.org/ws/2005/04/discovery",
    "dn": "http://www.onvif.org/ver10/network/wsdl",
    "tds": "http://www.onvif.org/ver10/device/wsdl",
    "trt": "http://www.onvif.org/ver10/media/wsdl",
    "tt": "http://www.onvif.org/ver10/schema",
    "wsse": "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd",
    "wsu": "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd",
}
_XMLNS = " ".join(f'xmlns:{prefix}="{uri}"' for prefix, uri in NS.items())
PROBE_ACTION = "http://schemas.xmlsoap.org/ws/2005/04/discovery/Probe"
MATCHES_ACTION = "http://schemas.xmlsoap.org/ws/2005/04/discovery/ProbeMatches"


class OnvifError(Exception):
    """A camera answered ONVIF with a fault, refused the credentials, or not at all."""


def envelope(body: str, header: str = "") -> bytes:
    """A SOAP 1.2 envelope with every namespace of NS declared."""
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><s:Envelope {_XMLNS}>'
        f"<s:Header>{header}</s:Header><s:Body>{body}</s:Body></s:Envelope>"
    ).encode()


def probe_message(message_id: str) -> bytes:
    """The WS-Discovery Probe for ONVIF video transmitters."""
    header = (
        f"<a:MessageID>{message_id}</a:MessageID>"
        "<a:To>urn:schemas-xmlsoap-org:ws:2005:04:discovery</a:To>"
        f"<a:Action>{PROBE_ACTION}</a:Action>"
    )
    return envelope("<d:Probe><d:Types>dn:NetworkVideoTransmitter</d:Types></d:Probe>", header)


def password_digest(nonce: bytes, created: str, password: str) -> str:
    """WS-Security: Base64(SHA-1(nonce + created + password))."""
    return base64.b64encode(
        hashlib.sha1(nonce + created.encode() + password.encode()).digest()
    ).decode()


def security_header(user: str, password: str) -> str:
    """A UsernameToken with a fresh nonce: the password itself never travels."""
    nonce = os.urandom(16)
    created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    digest = password_digest(nonce, created, password)
    return (
        "<wsse:Security><wsse:UsernameToken>"
        f"<wsse:Username>{user}</wsse:Username>"
        f'<wsse:Password Type="PasswordDigest">{digest}</wsse:Password>'
        f"<wsse:Nonce>{base64.b64encode(nonce).decode()}</wsse:Nonce>"
        f"<wsu:Created>{created}</wsu:Created>"
        "</wsse:UsernameToken></wsse:Security>"
    )


def parse(data: bytes) -> ET.Element:
    """A SOAP answer's root; OnvifError when it is not XML."""
    try:
        return ET.fromstring(data[:MAX_ANSWER_BYTES])
    except ET.ParseError as err:
        raise OnvifError(f"answer is not XML: {err}") from None


def text_of(root: ET.Element, path: str) -> str | None:
    """The text at `path` (prefixes of NS), stripped; None when absent."""
    found = root.find(path, NS)
    return found.text.strip() if found is not None and found.text else None


@dataclass(frozen=True)
class Found:
    """One camera that answered the probe: where its device service is."""

    address: str  # its endpoint reference (urn:uuid:...)
    xaddr: str  # the device service URL


def discover(timeout: float = DISCOVERY_SECONDS) -> list[Found]:
    """Multicast one Probe and collect every ProbeMatch within `timeout` seconds."""
    message_id = f"uuid:{uuid.uuid4()}"
    found: dict[str, Found] = {}
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP) as sock:
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
        sock.sendto(probe_message(message_id), MULTICAST)
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            sock.settimeout(left)
            try:
                data, _ = sock.recvfrom(MAX_ANSWER_BYTES)
            except TimeoutError:
                break
            for match in _matches(data, message_id):
                found.setdefault(match.address, match)
    return sorted(found.values(), key=lambda f: f.xaddr)


def _matches(data: bytes, message_id: str) -> list[Found]:
    try:
        root = parse(data)
    except OnvifError:
        return []  # not for us, or garbage: other devices answer on this port too
    if text_of(root, "s:Header/a:RelatesTo") != message_id:
        return []
    out = []
    for match in root.iterfind("s:Body/d:ProbeMatches/d:ProbeMatch", NS):
        address = text_of(match, "a:EndpointReference/a:Address")
        xaddrs = (text_of(match, "d:XAddrs") or "").split()
        if address and xaddrs:
            out.append(Found(address, xaddrs[0]))
    return out


def _call(url: str, body: str, user: str, password: str) -> ET.Element:
    """POST one SOAP request with credentials; the answer's root, or OnvifError."""
    request = urllib.request.Request(
        url,
        data=envelope(body, security_header(user, password)),
        headers={"Content-Type": "application/soap+xml; charset=utf-8"},
    )
    try:
        with urllib.request.urlopen(request, timeout=REQUEST_SECONDS) as answer:
            return parse(answer.read(MAX_ANSWER_BYTES))
    except urllib.error.HTTPError as err:
        fault = text_of(parse(err.read(MAX_ANSWER_BYTES)), "s:Body/s:Fault/s:Reason/s:Text")
        if err.code in (400, 401) and fault and "auth" in fault.lower():
            raise OnvifError("credentials refused") from None
        raise OnvifError(f"HTTP {err.code}: {fault or err.reason}") from None
    except (OSError, ValueError) as err:
        raise OnvifError(f"no answer: {err}") from None


def stream_uri(xaddr: str, user: str, password: str) -> str:
    """The RTSP URI of the camera's first media profile (GetCapabilities, -Profiles, -StreamUri)."""
    caps = _call(
        xaddr,
        "<tds:GetCapabilities><tds:Category>Media</tds:Category></tds:GetCapabilities>",
        user,
        password,
    )
    media = text_of(caps, "s:Body/tds:GetCapabilitiesResponse/tds:Capabilities/tt:Media/tt:XAddr")
    if media is None:
        raise OnvifError("no media service")
    profiles = _call(media, "<trt:GetProfiles/>", user, password)
    first = profiles.find("s:Body/trt:GetProfilesResponse/trt:Profiles", NS)
    token = first.get("token") if first is not None else None
    if not token:
        raise OnvifError("no media profile")
    setup = (
        "<trt:GetStreamUri><trt:StreamSetup><tt:Stream>RTP-Unicast</tt:Stream>"
        "<tt:Transport><tt:Protocol>RTSP</tt:Protocol></tt:Transport></trt:StreamSetup>"
        f"<trt:ProfileToken>{token}</trt:ProfileToken></trt:GetStreamUri>"
    )
    answer = _call(media, setup, user, password)
    uri = text_of(answer, "s:Body/trt:GetStreamUriResponse/trt:MediaUri/tt:Uri")
    if uri is None:
        raise OnvifError("no stream URI in the answer")
    return uri
