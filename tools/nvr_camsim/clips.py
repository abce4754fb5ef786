"""Test clips for the simulated cameras, encoded once and looped with `-c copy`.

Each clip is 13 s of H.264 at 25 fps with a 1 s GOP and no B-frames, showing ffmpeg's
`testsrc2` scene with a running clock burnt in at the top left, like a camera's OSD.
Publishers loop a clip without re-encoding, so 32 cameras cost little CPU.

The faults keep the OSD as a real camera does, because the OSD is drawn after the sensor:
- black: black picture, the clock still running (a "no signal" camera usually keeps its OSD);
- frozen: one still frame of the scene, the clock still running (the hard case: the frame
  is never byte-identical, only the clock area changes);
- blurred: strong Gaussian blur of the scene, the clock still sharp;
- dark: brightness scaled to about a tenth (mean luma around 20 of 255), the clock bright.

Clips are cached under `$NVR_DEV_CACHE/camsim` (default `~/.cache/nvr-dev/camsim`), keyed
by recipe version, variant, size and bitrate. A clip is written under a temporary name and
renamed, so concurrent test processes never see half a file.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import tempfile
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from nvr.core.tools import require_tool
from nvr_camsim.errors import ClipError

log = logging.getLogger(__name__)

# Bump when a filter graph or encoder setting changes, so stale cached clips are not reused.
RECIPE_VERSION = 2
FPS = 25
GOP_FRAMES = 25  # one keyframe per second: a reader waits at most 1 s for a picture
# 13 s, not 10: a looped clip repeats exactly every CLIP_SECONDS, and a validator sampling
# every 10, 30 or 60 s would otherwise see identical frames and call a working camera frozen.
CLIP_SECONDS = 13
ENCODE_TIMEOUT_S = 600.0
FONT_CANDIDATES = (
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf"),  # Debian fonts-dejavu-core
    Path("/usr/share/fonts/dejavu/DejaVuSansMono.ttf"),
    Path("/usr/share/fonts/TTF/DejaVuSansMono.ttf"),
)
# The frozen clip shows this frame of testsrc2 (not the first, which is less busy).
FROZEN_FRAME = 60
DEFAULT_WIDTH = 1280
DEFAULT_HEIGHT = 720
DEFAULT_BITRATE = 2_000_000
# The size the wrong_resolution fault switches to (or away from, see alternate_resolution).
ALTERNATE_SIZE = (640, 360)
FALLBACK_ALTERNATE_SIZE = (1280, 720)
MAX_DIMENSION = 4096


class Variant(StrEnum):
    """What a clip shows."""

    NORMAL = "normal"
    BLACK = "black"
    FROZEN = "frozen"
    BLURRED = "blurred"
    DARK = "dark"


@dataclass(frozen=True)
class ClipSpec:
    """Everything that makes one cached clip different from another."""

    variant: Variant
    width: int
    height: int
    bitrate: int  # bits per second

    @property
    def file_name(self) -> str:
        """Cache file name, unique per recipe version and spec."""
        kbps = self.bitrate // 1000
        return f"v{RECIPE_VERSION}-{self.variant}-{self.width}x{self.height}-{kbps}k.mp4"


@dataclass(frozen=True)
class Region:
    """A rectangle in pixels: left, top, width, height."""

    x: int
    y: int
    width: int
    height: int


def default_cache_dir() -> Path:
    """Where clips are cached: `$NVR_DEV_CACHE/camsim`, default `~/.cache/nvr-dev/camsim`."""
    base = os.environ.get("NVR_DEV_CACHE") or str(Path.home() / ".cache" / "nvr-dev")
    return Path(base) / "camsim"


def _font_size(height: int) -> int:
    return max(16, height // 20)


def clock_region(width: int, height: int) -> Region:
    """The area the burnt-in clock may cover, with a margin; everything else is the scene.

    Tests of the frozen fault compare frames outside this area.
    """
    size = _font_size(height)
    # "0:00:12.960" is 11 monospace glyphs of about 0.6 em, in a box with a border.
    return Region(0, 0, min(width, 16 + size * 8 + 40), min(height, 16 + size * 2 + 24))


def alternate_resolution(width: int, height: int) -> tuple[int, int]:
    """The size a camera with the wrong_resolution fault sends instead of width x height."""
    if (width, height) == ALTERNATE_SIZE:
        return FALLBACK_ALTERNATE_SIZE
    return ALTERNATE_SIZE


def parse_resolution(text: str) -> tuple[int, int]:
    """Parse "1280x720"; ValueError with a one-line message otherwise.

    Sizes must be even because yuv420p halves the chroma planes.
    """
    match = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
    if match is None:
        raise ValueError(f"bad resolution {text!r}: expected WIDTHxHEIGHT, e.g. 1280x720")
    width, height = int(match.group(1)), int(match.group(2))
    for value in (width, height):
        if not 16 <= value <= MAX_DIMENSION or value % 2:
            raise ValueError(
                f"bad resolution {text!r}: sides must be even and between 16 and {MAX_DIMENSION}"
            )
    return width, height


def parse_bitrate(text: str) -> int:
    """Parse "2M", "1500k" or "2000000" into bits per second; ValueError otherwise."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kKmM]?)\s*(?:bit/s|bps|b)?\s*", text)
    if match is None:
        raise ValueError(f"bad bitrate {text!r}: expected e.g. 2M, 1500k or 2000000")
    factor = {"": 1, "k": 1000, "m": 1_000_000}[match.group(2).lower()]
    bits = int(float(match.group(1)) * factor)
    if not 100_000 <= bits <= 50_000_000:
        raise ValueError(f"bad bitrate {text!r}: must be between 100k and 50M")
    return bits


def find_font() -> Path:
    """The monospace font used for the clock, or ClipError saying what to install."""
    for candidate in FONT_CANDIDATES:
        if candidate.is_file():
            return candidate
    raise ClipError("DejaVuSansMono.ttf not found: install fonts-dejavu-core")


def _clock_filter(height: int, font: Path) -> str:
    """The drawtext filter showing the clip time to the millisecond, changing on every frame."""
    size = _font_size(height)
    return (
        f"drawtext=fontfile={font}:text='%{{pts\\:hms}}':x=16:y=16:fontsize={size}"
        f":fontcolor=white:box=1:boxcolor=black@0.6:boxborderw={max(4, size // 4)}"
    )


def _scene_filter(spec: ClipSpec) -> str:
    """The picture before the clock is drawn, per variant."""
    scene = f"testsrc2=size={spec.width}x{spec.height}:rate={FPS}"
    if spec.variant is Variant.BLACK:
        return f"color=c=black:size={spec.width}x{spec.height}:rate={FPS}"
    if spec.variant is Variant.FROZEN:
        # One frame held for the whole clip; setpts restarts the clock at 0 at 25 fps.
        return (
            f"{scene},trim=start_frame={FROZEN_FRAME}:end_frame={FROZEN_FRAME + 1},"
            f"loop=loop=-1:size=1,setpts=N/{FPS}/TB"
        )
    if spec.variant is Variant.BLURRED:
        return f"{scene},gblur=sigma={max(4.0, spec.height / 60):.1f}"
    if spec.variant is Variant.DARK:
        # Scale luma towards black and chroma towards grey: a night picture, not a tinted one.
        return f"{scene},lutyuv=y='16+(val-16)*0.1':u='128+(val-128)*0.3':v='128+(val-128)*0.3'"
    return scene


def encode_command(spec: ClipSpec, output: Path, ffmpeg: str, font: Path) -> list[str]:
    """The ffmpeg argv that encodes `spec` into `output` (an .mp4)."""
    graph = f"{_scene_filter(spec)},{_clock_filter(spec.height, font)}"
    rate = str(spec.bitrate)
    return [
        ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
        "-f", "lavfi", "-i", graph, "-t", str(CLIP_SECONDS),
        "-c:v", "libx264", "-preset", "veryfast", "-profile:v", "main", "-pix_fmt", "yuv420p",
        # No B-frames and a fixed GOP: like most IP cameras, and loops cleanly with -c copy.
        "-bf", "0", "-g", str(GOP_FRAMES), "-keyint_min", str(GOP_FRAMES), "-sc_threshold", "0",
        # Capped average bitrate with a 1 s buffer keeps the stream close to constant bitrate.
        "-b:v", rate, "-maxrate", rate, "-bufsize", rate,
        "-an", "-movflags", "+faststart", "-f", "mp4", str(output),
    ]  # fmt: skip


def ensure_clip(spec: ClipSpec, cache_dir: Path | None = None) -> Path:
    """Path of the clip for `spec`, encoding it first if it is not cached yet."""
    directory = cache_dir or default_cache_dir()
    target = directory / spec.file_name
    if target.is_file() and target.stat().st_size > 0:
        return target
    ffmpeg = require_tool("ffmpeg")
    font = find_font()
    directory.mkdir(parents=True, exist_ok=True)
    log.info("encoding clip %s (once; cached in %s)", spec.file_name, directory)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{spec.file_name}.", suffix=".tmp", dir=directory)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        _run_encoder(encode_command(spec, tmp, ffmpeg, font), spec)
        tmp.chmod(0o644)  # mkstemp makes it private; a clip is no secret
        # Atomic: another process encoding the same clip simply replaces it with its twin.
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def _run_encoder(argv: list[str], spec: ClipSpec) -> None:
    try:
        result = subprocess.run(
            argv,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=ENCODE_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired as err:
        raise ClipError(f"encoding {spec.file_name} took over {ENCODE_TIMEOUT_S:.0f} s") from err
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise ClipError(f"encoding {spec.file_name} failed (exit {result.returncode}): {last}")
