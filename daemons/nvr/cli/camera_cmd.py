"""`nvrctl camera add`: probe a camera, propose what to expect of it, write it and apply.

One step instead of four (issue 24): the URL is asked first (does it answer, are the
credentials accepted: nvr.core.rtsp.probe), then ffprobe says what it sends (codec,
resolution, fps, audio), which becomes the entry's `expect:` so the validator checks the
camera keeps sending it. The entry is appended as a YAML block under `cameras:` so the
file's comments stay; the new text must validate before it replaces the file (atomically),
and `nvrctl config apply` then reloads the daemons.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import yaml

from nvr.cli.config_apply import DEFAULT_WAIT_SECONDS, apply_config
from nvr.cli.options import add_command
from nvr.core.config import Config, load_config, parse_config, resolve_path
from nvr.core.errors import ConfigError, NvrError
from nvr.core.onvif import DISCOVERY_SECONDS, OnvifError, discover, stream_uri
from nvr.core.process import run_command
from nvr.core.redact import SecretUrl
from nvr.core.rtsp import ProbeResult, probe
from nvr.core.tools import require_tool

PROBE_SECONDS = 20.0
_CAMERAS_KEY = re.compile(r"^cameras:\s*(\[\s*\])?\s*(#.*)?$")
_TOP_LEVEL = re.compile(r"^[^\s#]")

_REFUSED = {
    ProbeResult.OFFLINE: "does not answer (address, port, power, network?)",
    ProbeResult.AUTH_FAILED: "refused the credentials (user and password in the URL)",
    ProbeResult.NOT_FOUND: "answers, but has no stream at that path",
    ProbeResult.ERROR: "answered with an error",
}


def add_parser(subparsers: Any) -> None:
    """Register `camera add`."""
    camera = subparsers.add_parser("camera", help="add cameras to the config")
    actions = camera.add_subparsers(dest="camera_action", required=True)
    add = add_command(
        actions, "add", "probe a camera URL, write its entry and apply it", add_camera
    )
    add.add_argument("--url", required=True, help="rtsp://user:password@host:554/path")
    add.add_argument("--id", dest="camera_id", help="camera id (default: the next free camNN)")
    add.add_argument("--name", help="what people call it (default: the id)")
    add.add_argument("--no-apply", action="store_true", help="write the entry, do not reload")
    add.add_argument(
        "--wait", type=float, default=DEFAULT_WAIT_SECONDS, help="seconds to wait for reloads"
    )
    find = actions.add_parser(
        "discover", help="find ONVIF cameras on the LAN (WS-Discovery) and their RTSP URLs"
    )
    find.add_argument("--user", default="admin", help="the cameras' ONVIF user")
    find.add_argument(
        "--password-file", type=Path, help="file holding the password (not on the command line)"
    )
    find.add_argument(
        "--timeout", type=float, default=DISCOVERY_SECONDS, help="seconds to collect answers"
    )
    find.set_defaults(func=discover_cameras)


def discover_cameras(args: argparse.Namespace) -> int:
    """One line per camera that answered: its device service and its RTSP URL (or why not)."""
    password = args.password_file.read_text().strip() if args.password_file else None
    found = discover(args.timeout)
    if not found:
        print(f"no ONVIF camera answered within {args.timeout:g} s")
        return 1
    for camera in found:
        if password is None:
            print(f"{camera.xaddr}  (give --password-file for its RTSP URL)")
            continue
        try:
            uri = stream_uri(camera.xaddr, args.user, password)
        except OnvifError as err:
            print(f"{camera.xaddr}  {err}")
            continue
        print(f"{camera.xaddr}  {SecretUrl(uri)}")
    print(
        f"{len(found)} cameras; add one with: nvrctl camera add --url <rtsp url with credentials>"
    )
    return 0


@dataclass(frozen=True)
class Media:
    """What the camera sends, as ffprobe saw it."""

    codec: str
    width: int
    height: int
    fps: float | None
    audio: str | None

    def expect(self) -> dict[str, Any]:
        """The `expect:` block the validator checks the camera against."""
        proposed: dict[str, Any] = {"codec": self.codec, "width": self.width}
        proposed["height"] = self.height
        if self.fps is not None:
            proposed["fps"] = self.fps
        return proposed


def _fps(stream: dict[str, Any]) -> float | None:
    for key in ("avg_frame_rate", "r_frame_rate"):
        try:
            rate = Fraction(str(stream.get(key, "0/0")))
        except (ValueError, ZeroDivisionError):
            continue
        if 0 < rate <= 240:
            return round(float(rate), 2)
    return None


def probe_media(url: SecretUrl) -> Media:
    """Ffprobe the stream (over TCP: works through any firewall that passes RTSP)."""
    argv = [require_tool("ffprobe"), "-v", "error", "-print_format", "json", "-show_streams"]
    argv += ["-rtsp_transport", "tcp", "-analyzeduration", "2000000", url.reveal()]
    try:
        streams = json.loads(run_command(argv, PROBE_SECONDS) or "{}").get("streams", [])
    except subprocess.TimeoutExpired:
        raise NvrError(f"{url}: ffprobe got no picture within {PROBE_SECONDS:g} s") from None
    except subprocess.CalledProcessError:
        raise NvrError(f"{url}: ffprobe could not read the stream") from None
    video = next((s for s in streams if s.get("codec_type") == "video"), None)
    if video is None:
        raise NvrError(f"{url}: the stream has no video track")
    audio = next((s for s in streams if s.get("codec_type") == "audio"), None)
    return Media(
        codec=str(video.get("codec_name", "?")),
        width=int(video.get("width", 0)),
        height=int(video.get("height", 0)),
        fps=_fps(video),
        audio=str(audio.get("codec_name")) if audio else None,
    )


def next_id(config: Config) -> str:
    """cam01, cam02, ...: the first not taken."""
    taken = {c.id for c in config.cameras}
    return next(f"cam{n:02d}" for n in range(1, 100) if f"cam{n:02d}" not in taken)


def entry_block(entry: dict[str, Any], indent: str) -> str:
    """The entry as a YAML list item indented under `cameras:`."""
    text = yaml.safe_dump([entry], sort_keys=False, default_flow_style=None)
    return "".join(f"{indent}{line}\n" for line in text.splitlines())


def with_camera(text: str, entry: dict[str, Any]) -> str:
    """`text` with `entry` appended to its `cameras:` list; everything else untouched."""
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if _CAMERAS_KEY.match(line)), None)
    if start is None:
        return text.rstrip("\n") + "\n\ncameras:\n" + entry_block(entry, "  ")
    end = next((i for i in range(start + 1, len(lines)) if _TOP_LEVEL.match(lines[i])), len(lines))
    while end > start + 1 and not lines[end - 1].strip():
        end -= 1  # keep the blank lines before the next section after the new entry
    items = [line for line in lines[start + 1 : end] if line.lstrip().startswith("- ")]
    indent = items[0][: len(items[0]) - len(items[0].lstrip())] if items else "  "
    head = [*lines[:start], "cameras:", *lines[start + 1 : end]]
    block = entry_block(entry, indent).rstrip("\n").splitlines()
    return "\n".join([*head, *block, *lines[end:]]) + "\n"


def write_atomically(path: Path, text: str) -> None:
    """Replace the file in one rename, keeping its mode: a reader never sees half of it."""
    temporary = path.with_name(f".{path.name}.new")
    temporary.write_text(text)
    os.chmod(temporary, path.stat().st_mode & 0o777)
    os.replace(temporary, path)


def add_camera(args: argparse.Namespace) -> int:
    """Probe, propose, write, apply; nothing is written when the camera fails its probe."""
    path = resolve_path(args.config)
    config = load_config(path)
    url = SecretUrl(args.url)
    answer = probe(url)
    if answer.result is not ProbeResult.OK:
        detail = f" ({answer.detail})" if answer.detail else ""
        raise NvrError(f"{url}: the camera {_REFUSED[answer.result]}{detail}; nothing written")
    media = probe_media(url)
    camera_id = args.camera_id or next_id(config)
    if config.camera(camera_id) is not None:
        raise NvrError(f"camera id {camera_id!r} is already in {path}: pick another --id")
    fps = f" at {media.fps:g} fps" if media.fps else ""
    audio = f", audio {media.audio}" if media.audio else ", no audio"
    print(f"{url}: answers, credentials accepted")
    print(f"  sends {media.codec} {media.width}x{media.height}{fps}{audio}")
    entry = {"id": camera_id, "name": args.name or camera_id, "url": args.url}
    entry["expect"] = media.expect()
    new_text = with_camera(path.read_text(), entry)
    try:
        parse_config(yaml.safe_load(new_text), path)
    except (ConfigError, yaml.YAMLError) as err:
        raise NvrError(
            f"{path}: the new entry would not validate ({err}); nothing written"
        ) from None
    write_atomically(path, new_text)
    print(f"  wrote {camera_id} to {path} with expect: {json.dumps(media.expect())}")
    if args.no_apply:
        print("  not applied (--no-apply): run `nvrctl config apply`")
        return 0
    try:
        return apply_config(path, wait_seconds=args.wait, out=sys.stdout)
    except NvrError as err:
        print(f"  not applied: {err}")
        return 0
