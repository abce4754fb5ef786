"""The simulated cameras' ONVIF side: they answer WS-Discovery and hand out their RTSP URI.

    python -m nvr_camsim.onvif --camera cam01=rtsp://127.0.0.1:8554/cam01 \
        --user admin --password-file pw.txt

Answers a WS-Discovery Probe (UDP 239.255.255.250:3702) with one ProbeMatch per camera,
each with its own device service URL on one HTTP server, and GetCapabilities, GetProfiles
and GetStreamUri there, checking the WS-Security password digest as a camera does. Tests
run it in a network namespace of their own, so the multicast stays inside it.
"""

from __future__ import annotations

import argparse
import base64
import hmac
import socket
import struct
import sys
import threading
import uuid
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from nvr.core.onvif import (
    MATCHES_ACTION,
    MAX_ANSWER_BYTES,
    MULTICAST,
    NS,
    OnvifError,
    envelope,
    parse,
    password_digest,
    text_of,
)

PROFILE_TOKEN = "main"


class Cameras:
    """Each camera's id, endpoint address and RTSP URI; the one account they all take."""

    def __init__(self, uris: dict[str, str], user: str, password: str) -> None:
        self.uris = uris
        self.addresses = {camera: f"urn:uuid:{uuid.uuid4()}" for camera in uris}
        self.user = user
        self.password = password
        self.http_port = 0

    def xaddr(self, camera: str) -> str:
        """The camera's device service URL (one HTTP server, a path per camera)."""
        return f"http://127.0.0.1:{self.http_port}/onvif/{camera}/device_service"

    def authorised(self, request: bytes) -> bool:
        """The UsernameToken's digest matches our password (compared in constant time)."""
        try:
            root = parse(request)
        except OnvifError:
            return False
        token = "s:Header/wsse:Security/wsse:UsernameToken/"
        user = text_of(root, token + "wsse:Username")
        digest = text_of(root, token + "wsse:Password") or ""
        nonce = text_of(root, token + "wsse:Nonce") or ""
        created = text_of(root, token + "wsu:Created") or ""
        try:
            expected = password_digest(base64.b64decode(nonce), created, self.password)
        except ValueError:
            return False
        return user == self.user and hmac.compare_digest(digest, expected)


def _probe_matches(cameras: Cameras, relates_to: str) -> bytes:
    matches = "".join(
        "<d:ProbeMatch>"
        f"<a:EndpointReference><a:Address>{cameras.addresses[camera]}</a:Address>"
        "</a:EndpointReference><d:Types>dn:NetworkVideoTransmitter</d:Types>"
        f"<d:XAddrs>{cameras.xaddr(camera)}</d:XAddrs><d:MetadataVersion>1</d:MetadataVersion>"
        "</d:ProbeMatch>"
        for camera in cameras.uris
    )
    header = (
        f"<a:MessageID>urn:uuid:{uuid.uuid4()}</a:MessageID>"
        f"<a:RelatesTo>{relates_to}</a:RelatesTo><a:Action>{MATCHES_ACTION}</a:Action>"
    )
    return envelope(f"<d:ProbeMatches>{matches}</d:ProbeMatches>", header)


def answer_probes(cameras: Cameras, sock: socket.socket) -> None:
    """Answer every Probe on the multicast socket, forever (a daemon thread)."""
    while True:
        data, sender = sock.recvfrom(MAX_ANSWER_BYTES)
        try:
            root = parse(data)
        except OnvifError:
            continue
        message_id = text_of(root, "s:Header/a:MessageID")
        if message_id and root.find("s:Body/d:Probe", NS) is not None:
            sock.sendto(_probe_matches(cameras, message_id), sender)


def _answer(cameras: Cameras, camera: str, request: bytes) -> bytes | None:
    """The SOAP answer to one device or media request; None for what we do not know."""
    root = parse(request)
    body = root.find("s:Body", NS)
    operation = body[0].tag.rsplit("}", 1)[-1] if body is not None and len(body) else ""
    if operation == "GetCapabilities":
        media = cameras.xaddr(camera).replace("device_service", "media_service")
        return envelope(
            "<tds:GetCapabilitiesResponse><tds:Capabilities><tt:Media>"
            f"<tt:XAddr>{media}</tt:XAddr></tt:Media></tds:Capabilities>"
            "</tds:GetCapabilitiesResponse>"
        )
    if operation == "GetProfiles":
        return envelope(
            f'<trt:GetProfilesResponse><trt:Profiles token="{PROFILE_TOKEN}">'
            "<tt:Name>main</tt:Name></trt:Profiles></trt:GetProfilesResponse>"
        )
    if operation == "GetStreamUri":
        return envelope(
            "<trt:GetStreamUriResponse><trt:MediaUri>"
            f"<tt:Uri>{cameras.uris[camera]}</tt:Uri></trt:MediaUri></trt:GetStreamUriResponse>"
        )
    return None


def _fault(reason: str) -> bytes:
    return envelope(
        "<s:Fault><s:Code><s:Value>s:Sender</s:Value></s:Code>"
        f'<s:Reason><s:Text xml:lang="en">{reason}</s:Text></s:Reason></s:Fault>'
    )


def handler(cameras: Cameras) -> type[BaseHTTPRequestHandler]:
    """The HTTP side: /onvif/<camera>/(device|media)_service."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            parts = self.path.strip("/").split("/")
            length = min(int(self.headers.get("Content-Length", "0")), MAX_ANSWER_BYTES)
            request = self.rfile.read(length)
            if len(parts) != 3 or parts[1] not in cameras.uris:
                self._send(404, _fault("no such service"))
            elif not cameras.authorised(request):
                self._send(400, _fault("Sender not authorized"))
            else:
                answer = _answer(cameras, parts[1], request)
                self._send(200, answer) if answer else self._send(400, _fault("not supported"))

        def _send(self, code: int, body: bytes) -> None:
            self.send_response(code)
            self.send_header("Content-Type", "application/soap+xml; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            """Quiet: the test reads our stdout for the ready line only."""

    return Handler


def multicast_socket() -> socket.socket:
    """Bound to the WS-Discovery port, joined to its group on every interface."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("", MULTICAST[1]))
    group = struct.pack("4s4s", socket.inet_aton(MULTICAST[0]), socket.inet_aton("0.0.0.0"))
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, group)
    return sock


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until killed."""
    parser = argparse.ArgumentParser(prog="nvr_camsim.onvif", description=__doc__)
    parser.add_argument("--camera", action="append", required=True, metavar="ID=RTSP_URI")
    parser.add_argument("--user", default="admin")
    parser.add_argument("--password-file", type=Path, required=True)
    args = parser.parse_args(argv)
    uris = dict(item.split("=", 1) for item in args.camera)
    cameras = Cameras(uris, args.user, args.password_file.read_text().strip())
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler(cameras))
    cameras.http_port = server.server_address[1]
    sock = multicast_socket()
    threading.Thread(target=answer_probes, args=(cameras, sock), daemon=True).start()
    print(f"onvif ready on port {cameras.http_port}", flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
