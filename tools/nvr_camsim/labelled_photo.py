"""The blind labelled set: camera scenes rendered from real photographs.

The tuning and held-out sets (nvr_camsim.labelled) are drawn by ffmpeg's lavfi sources;
this one shares none of their sources, noise or encoders, and was scored once before any
check was changed after it (tests/bench/bench_picture.py, `blind_first_run`):

- sources: the photographs bundled in scikit-image's wheel (`PHOTOS`, each with its
  licence: public domain or CC0), some tinted (a grey brick wall made red), framed 16:9
  and held still, panned slowly or zoomed slowly with sub-pixel resampling;
- light: day, night (a sixteenth of the light, camera gain x4, colour desaturated) and
  infrared (greyscale, an illuminator's hot spot, gain x5); other "cameras" are noisy (a
  quarter of the light, gain x3);
- noise: a sensor model in linear light (shot noise growing with the signal, read noise,
  both amplified by the camera's gain), colour noise per channel, encoded through the
  sRGB curve; nothing of ffmpeg's noise filter;
- OSD: a date and time drawn with OpenCV's Hershey font, changing once a second as real
  cameras' do (the lavfi sets' clock changes every frame), top left or bottom right;
- encoders: x264 CBR 256 kbit/s zero-latency, x265 capped at 200 kbit/s, x264 CRF 20 with
  a 3 s GOP, x264 CRF 30 with 3 B-frames at 10 fps (`ENCODERS`); 320x180, 10 to 25 fps;
- defects: signal lost, two underexposures, over-exposure, fog (a veil), a hand over 90 %
  of the lens, black tape, paint sprayed on the lens, defocus of two radii (a disc, the
  real point spread of a lens, not a Gaussian), and a frozen sensor (one frame held, its
  noise too, the OSD still running) re-encoded by the scene's own encoder.

Healthy clips last 24 s (six checks of 4 s: two teach a baseline, four are judged, so the
set holds over 200 healthy checks with a baseline), defect clips 16 s. Every scene is
healthy; each defect is applied to a third of the scenes (frozen to all), in rotation.
Clips are rendered in Python (numpy, OpenCV), piped to ffmpeg as raw frames and cached
per clip under `$NVR_DEV_CACHE/validator-set/blind/`, named with a hash of the recipe and
RENDER_VERSION (bump it when the rendering below changes).
"""

from __future__ import annotations

import datetime
import importlib.resources
import math
import os
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Protocol, TypeVar

import cv2
import numpy as np
import numpy.typing as npt

from nvr.core.tools import require_tool
from nvr_camsim.errors import ClipError
from nvr_camsim.labelled import Clip, Defect, Kind, recipe_hash, set_cache_dir

RENDER_VERSION = 1
WIDTH, HEIGHT = 320, 180
HEALTHY_SECONDS = 24
DEFECT_SECONDS = 16
ENCODE_TIMEOUT_S = 300.0
MARGIN = 1.2  # the canvas is this much larger than the view, so pans and zooms stay inside
Image = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Photo:
    """A photograph bundled with scikit-image, its licence, and an optional BGR tint."""

    name: str
    file: str
    licence: str
    tint: tuple[float, float, float] = (1.0, 1.0, 1.0)
    view: tuple[float, float] = (0.5, 0.5)  # centre of the 16:9 framing, as shares

    @property
    def grey(self) -> bool:
        """A greyscale photograph: only infrared scenes are made of it."""
        return self.file in GREY_FILES


GREY_FILES = frozenset({"camera.png", "coins.png", "gravel.png", "text.png"})
PHOTOS = (
    Photo("astronaut", "astronaut.png", "public domain (NASA)", view=(0.5, 0.35)),
    Photo("cat", "chelsea.png", "CC0 (Stefan van der Walt)"),
    Photo("coffee", "coffee.png", "CC0 (Rachel Michetti)"),
    Photo("rocket", "rocket.jpg", "public domain (SpaceX)", view=(0.5, 0.6)),
    Photo("brick", "brick.png", "CC0 (CC0Textures)", tint=(0.55, 0.7, 1.0)),
    Photo("lawn", "grass.png", "CC0 (CC0Textures)", tint=(0.5, 1.0, 0.7)),
    Photo("cameraman", "camera.png", "CC0 (Lav Varshney)", view=(0.5, 0.4)),
    Photo("coins", "coins.png", "no known copyright restrictions (Brooklyn Museum)"),
    Photo("gravel", "gravel.png", "CC0 (CC0Textures)"),
    Photo("text", "text.png", "public domain"),
)


@dataclass(frozen=True)
class PhotoEncoder:
    """How the simulated camera encodes: frame rate and encoder arguments."""

    name: str
    fps: float
    args: tuple[str, ...]


ENCODERS = (
    PhotoEncoder(
        "x264-cbr",
        25,
        ("-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-b:v", "256k",
         "-maxrate", "256k", "-bufsize", "128k", "-g", "50", "-bf", "0"),
    ),
    PhotoEncoder(
        "x265-capped",
        15,
        ("-c:v", "libx265", "-preset", "ultrafast", "-b:v", "200k", "-maxrate", "200k",
         "-bufsize", "200k", "-x265-params", "keyint=30:min-keyint=30:bframes=0:log-level=error"),
    ),
    PhotoEncoder(
        "x264-gop3",
        12.5,
        ("-c:v", "libx264", "-preset", "fast", "-crf", "20", "-g", "38", "-keyint_min", "38",
         "-sc_threshold", "0"),
    ),
    PhotoEncoder(
        "x264-crf30-b3",
        10,
        ("-c:v", "libx264", "-preset", "medium", "-crf", "30", "-g", "20", "-bf", "3",
         "-aq-mode", "2"),
    ),
)  # fmt: skip


class Light(StrEnum):
    """The camera's lighting and exposure (`LOOKS`)."""

    DAY = "day"
    NOISY = "noisy"
    NIGHT = "night"
    IR = "ir"


class Motion(StrEnum):
    """How the view moves: still, a slow pan, a slow zoom."""

    STILL = "still"
    PAN = "pan"
    ZOOM = "zoom"


@dataclass(frozen=True)
class Look:
    """The exposure chain of a camera: light reaching the sensor, gain, colour."""

    light: float  # share of the day's light
    gain: float  # the camera's amplification (noise is amplified with the signal)
    saturation: float = 1.0
    grey: bool = False
    hot_spot: bool = False  # an IR illuminator lights the centre more than the edges


LOOKS = {
    Light.DAY: Look(1.0, 1.0),
    Light.NOISY: Look(0.25, 3.0),
    Light.NIGHT: Look(1 / 16, 4.0, saturation=0.45),
    Light.IR: Look(1 / 12, 5.0, saturation=0.0, grey=True, hot_spot=True),
}
SHOT_NOISE = 1 / 1500  # variance per unit of linear signal (a sensor of ~1500 e- full well)
READ_NOISE = 0.001  # linear: ~3 levels in the blacks of a day picture


@dataclass(frozen=True)
class PhotoScene:
    """What a camera looks at and how: photo, motion, light, encoder, OSD position."""

    name: str
    kind: Kind
    photo: Photo
    motion: Motion
    light: Light
    encoder: PhotoEncoder
    osd_bottom: bool = False
    day: str = ""


@dataclass(frozen=True)
class Fault:
    """A defect recipe: what happens to the optics, the exposure or the sensor."""

    defect: Defect
    strength: str
    # Exposure against the day picture (light x gain), whatever the camera's mode: a
    # night camera underexposed by 5 EV is as dark as a day camera underexposed by 5 EV,
    # only noisier (its gain stays up).
    exposure: float = 1.0
    veil: float = 0.0  # linear light added evenly (fog)
    defocus: float = 0.0  # radius of the lens's blur disc, pixels
    cover: str = ""  # "hand", "tape", "paint", "signal"
    frozen: bool = False


FAULTS = (
    Fault(Defect.BLACK, "signal-lost", cover="signal"),
    Fault(Defect.DARK, "under-5ev", exposure=1 / 32),
    Fault(Defect.DARK, "under-6ev", exposure=1 / 64),
    Fault(Defect.WASHED, "over-3ev", exposure=8.0),
    Fault(Defect.WASHED, "fog", veil=0.6),
    Fault(Defect.COVERED, "hand-90", cover="hand"),
    Fault(Defect.COVERED, "tape", cover="tape"),
    Fault(Defect.COVERED, "paint", cover="paint"),
    Fault(Defect.BLURRED, "defocus-r3", defocus=3.0),
    Fault(Defect.BLURRED, "defocus-r5", defocus=5.0),
    Fault(Defect.FROZEN, "sensor-stuck", frozen=True),
)
EVERY_SCENE = frozenset({Defect.FROZEN})
ROTATION = 3  # other defects go to every third scene, in rotation


def _scenes() -> tuple[PhotoScene, ...]:
    """Colour photos: day still/pan/zoom, noisy, night and IR; grey photos: IR only."""
    scenes: list[PhotoScene] = []
    for photo in PHOTOS:
        if photo.grey:
            plan = [
                ("ir-still", Kind.IR, Motion.STILL, Light.IR, ""),
                ("ir-pan", Kind.IR, Motion.PAN, Light.IR, ""),
                ("ir-noisy", Kind.NOISY, Motion.ZOOM, Light.IR, ""),
            ]
        else:
            still = f"{photo.name}-still"
            plan = [
                ("still", Kind.STATIC, Motion.STILL, Light.DAY, ""),
                ("pan", Kind.DAY, Motion.PAN, Light.DAY, ""),
                ("zoom", Kind.DAY, Motion.ZOOM, Light.DAY, ""),
                ("noisy", Kind.NOISY, Motion.STILL, Light.NOISY, ""),
                ("night", Kind.NIGHT, Motion.STILL, Light.NIGHT, still),
                ("ir", Kind.IR, Motion.STILL, Light.IR, still),
            ]
        for suffix, kind, motion, light, day in plan:
            index = len(scenes)
            # A night/IR scene is the same camera as its day scene: same encoder and OSD.
            same = next((s for s in scenes if s.name == day), None)
            encoder = same.encoder if same else ENCODERS[index % len(ENCODERS)]
            osd_bottom = same.osd_bottom if same else bool(index % 2)
            name = f"{photo.name}-{suffix}"
            scenes.append(PhotoScene(name, kind, photo, motion, light, encoder, osd_bottom, day))
    return tuple(scenes)


SCENES = _scenes()


@dataclass(frozen=True)
class PhotoSet:
    """The blind set: every scene healthy, and the defects in rotation."""

    name: str
    scenes: tuple[PhotoScene, ...]
    faults: tuple[Fault, ...]

    def clips(self) -> list[Clip]:
        """Every clip of the set (files may not exist yet: see `ensure`)."""
        out = []
        for index, scene in enumerate(self.scenes):
            out.append(self._clip(scene, None))
            for number, fault in enumerate(self.faults):
                if fault.defect in EVERY_SCENE or (index + number) % ROTATION == 0:
                    out.append(self._clip(scene, fault))
        return out

    def _clip(self, scene: PhotoScene, fault: Fault | None) -> Clip:
        seconds = DEFECT_SECONDS if fault else HEALTHY_SECONDS
        recipe = repr((scene, fault, seconds, WIDTH, HEIGHT, RENDER_VERSION))
        label = f"{fault.defect}-{fault.strength}" if fault else "good-plain"
        stem = f"{scene.name}-{label}"
        path = set_cache_dir(self.name) / f"{stem}-{recipe_hash(recipe)}.mp4"
        return Clip(
            self.name,
            scene,
            fault.defect if fault else None,
            fault.strength if fault else "plain",
            recipe,
            path,
            seconds,
        )

    def ensure(self, only: Sequence[Clip] | None = None, workers: int = 0) -> list[Clip]:
        """Render the missing clips (in parallel) and return them (all by default)."""
        wanted = list(only) if only is not None else self.clips()
        render_clips(self.name, wanted, self.faults, _encode, workers)
        return wanted


class FaultRecipe(Protocol):
    """What every set's defect recipe has: the label it renders."""

    @property
    def defect(self) -> Defect:
        """The defect the recipe makes."""

    @property
    def strength(self) -> str:
        """Which recipe of that defect."""


_F = TypeVar("_F", bound=FaultRecipe)


def render_clips(
    set_name: str,
    clips: Sequence[Clip],
    faults: Sequence[_F],
    encode: Callable[[Clip, _F | None], None],
    workers: int = 0,
) -> None:
    """Encode each clip with its fault's recipe (None: healthy), `workers` at a time."""
    set_cache_dir(set_name).mkdir(parents=True, exist_ok=True)
    by_label: dict[tuple[Defect | None, str], _F] = {(f.defect, f.strength): f for f in faults}
    with ThreadPoolExecutor(workers or max(1, os.cpu_count() or 2)) as pool:
        jobs = [
            pool.submit(encode, clip, by_label.get((clip.defect, clip.strength))) for clip in clips
        ]
        for job in jobs:
            job.result()


BLIND = PhotoSet("blind", SCENES, FAULTS)


# -- rendering ------------------------------------------------------------------------------
def photo_path(photo: Photo) -> Path:
    """The photograph's file inside the installed scikit-image (a dev dependency)."""
    try:
        root = importlib.resources.files("skimage") / "data"
    except ModuleNotFoundError:
        raise ClipError("scikit-image is not installed: run `make venv`") from None
    path = Path(str(root / photo.file))
    if not path.is_file():
        raise ClipError(f"{photo.file} is missing from scikit-image's data")
    return path


@cache
def _canvas(photo: Photo) -> Image:
    """The photo in linear light, tinted, framed 16:9 and sized MARGIN x the view."""
    bgr = cv2.imread(str(photo_path(photo)), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ClipError(f"cannot read {photo.file}")
    srgb = bgr.astype(np.float32) / 255.0 * np.array(photo.tint, dtype=np.float32)
    return frame_canvas(to_linear(np.clip(srgb, 0.0, 1.0)), photo.view)


def frame_canvas(linear: Image, view: tuple[float, float]) -> Image:
    """A picture in linear light, framed 16:9 around `view` (shares), MARGIN x the view.

    The margin keeps pans, zooms and shakes inside the picture.
    """
    rows, cols = linear.shape[:2]
    width = min(cols, rows * WIDTH / HEIGHT)
    height = width * HEIGHT / WIDTH
    left = int(np.clip(view[0] * cols - width / 2, 0, cols - width))
    top = int(np.clip(view[1] * rows - height / 2, 0, rows - height))
    framed = linear[top : top + int(height), left : left + int(width)]
    size = (round(WIDTH * MARGIN), round(HEIGHT * MARGIN))
    return np.asarray(cv2.resize(framed, size, interpolation=cv2.INTER_AREA), dtype=np.float32)


def to_linear(srgb: Image) -> Image:
    """Linear light of an sRGB picture (0-1)."""
    return np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4).astype(
        np.float32
    )


def _to_srgb(linear: Image) -> Image:
    x = np.clip(linear, 0.0, 1.0)
    return np.where(x <= 0.0031308, x * 12.92, 1.055 * x ** (1 / 2.4) - 0.055).astype(np.float32)


def _view(canvas: Image, motion: Motion, t: float) -> Image:
    """The lens's view at time t: still, a slow pan (8 px/s at most) or a slow zoom."""
    cx, cy = canvas.shape[1] / 2, canvas.shape[0] / 2
    scale, dx = 1.0, 0.0
    if motion is Motion.PAN:
        dx = 0.08 * WIDTH * math.sin(2 * math.pi * t / 20.0)
    elif motion is Motion.ZOOM:
        scale = 1.0 + 0.1 * (0.5 - 0.5 * math.cos(2 * math.pi * t / 20.0))
    # Maps the output's centre to the canvas's centre (+ pan), at `scale`.
    matrix = np.array(
        [[1 / scale, 0, cx + dx - WIDTH / 2 / scale], [0, 1 / scale, cy - HEIGHT / 2 / scale]],
        dtype=np.float32,
    )
    return np.asarray(
        cv2.warpAffine(
            canvas, matrix, (WIDTH, HEIGHT), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
        ),
        dtype=np.float32,
    )


@cache
def _disc(radius: float) -> Image:
    size = math.ceil(radius) * 2 + 1
    yy, xx = np.mgrid[:size, :size] - size // 2
    kernel = (np.hypot(xx, yy) <= radius).astype(np.float32)
    return np.asarray(kernel / kernel.sum(), dtype=np.float32)


@cache
def hot_spot() -> Image:
    """An IR illuminator's light: the centre brighter than the edges (x 0.45 at corners)."""
    yy, xx = np.mgrid[:HEIGHT, :WIDTH].astype(np.float32)
    r2 = ((xx - WIDTH / 2) / (WIDTH / 2)) ** 2 + ((yy - HEIGHT / 2) / (HEIGHT / 2)) ** 2
    return np.asarray(1.0 - 0.55 * np.clip(r2, 0, 2) / 2, dtype=np.float32)[..., None]


def _cover(kind: str, scene_light: Image, rng: np.random.Generator) -> Image:
    """What the sensor sees through a cover, in linear light (before noise)."""
    if kind == "tape":  # paper tape: beige, its weave barely resolved
        weave = cv2.GaussianBlur(rng.standard_normal((HEIGHT, WIDTH)).astype(np.float32), (0, 0), 2)
        beige = np.array([0.06, 0.08, 0.1], dtype=np.float32)
        return np.asarray(beige * (1.0 + 0.05 * weave[..., None]), dtype=np.float32)
    if kind == "paint":
        blotch = cv2.GaussianBlur(scene_light, (0, 0), 30)
        paint = np.array([0.02, 0.05, 0.12], dtype=np.float32)  # BGR: a dark red-brown
        return np.asarray(0.85 * paint + 0.15 * blotch, dtype=np.float32)
    # A hand over 90 % of the lens: out of focus skin, dim (it blocks the light), shaded.
    yy, xx = np.mgrid[:HEIGHT, :WIDTH].astype(np.float32)
    inside = ((xx - WIDTH * 0.56) / (WIDTH * 0.62)) ** 2
    inside += ((yy - HEIGHT * 0.55) / (HEIGHT * 0.75)) ** 2
    mask = cv2.GaussianBlur((inside <= 1.0).astype(np.float32), (0, 0), 10)[..., None]
    shade = 0.6 + 0.4 * np.clip(1.2 - inside, 0, 1)[..., None]
    skin = np.array([0.035, 0.05, 0.09], dtype=np.float32) * shade
    return np.asarray(mask * skin + (1 - mask) * scene_light, dtype=np.float32)


def _expose(light: Image, look: Look, rng: np.random.Generator) -> Image:
    """Sensor and camera: shot and read noise in linear light, gain, sRGB curve, 0-255."""
    signal = light * look.light
    sigma = np.sqrt(signal * SHOT_NOISE + READ_NOISE**2)
    if look.grey:
        mono = signal.mean(axis=2, keepdims=True)
        noise = rng.standard_normal((HEIGHT, WIDTH, 1), dtype=np.float32)
        sensed = mono + noise * sigma.mean(axis=2, keepdims=True)
        sensed = np.repeat(sensed, 3, axis=2)
    else:
        sensed = signal + rng.standard_normal(signal.shape, dtype=np.float32) * sigma
    picture = _to_srgb(sensed * look.gain)
    if look.saturation < 1.0:
        grey = picture.mean(axis=2, keepdims=True)
        picture = grey + (picture - grey) * look.saturation
    return np.asarray(np.clip(picture * 255.0 + 0.5, 0, 255), dtype=np.float32)


def _osd(frame: npt.NDArray[np.uint8], t: float, bottom: bool) -> None:
    """The camera's date and time, changing once a second, with an outline."""
    start = datetime.datetime(2026, 11, 3, 21, 14, 5, tzinfo=datetime.UTC)
    stamp = start + datetime.timedelta(seconds=int(t))
    text = stamp.strftime("%Y-%m-%d %H:%M:%S")
    origin = (WIDTH - 150, HEIGHT - 8) if bottom else (6, 14)
    for colour, thickness in (((0, 0, 0), 3), ((255, 255, 255), 1)):
        font = cv2.FONT_HERSHEY_SIMPLEX
        cv2.putText(frame, text, origin, font, 0.36, colour, thickness, cv2.LINE_AA)


def _frames(clip: Clip, scene: PhotoScene, fault: Fault | None) -> Iterator[bytes]:
    """The clip's frames, BGR 8-bit, as raw bytes."""
    rng = np.random.default_rng(int(recipe_hash(clip.graph), 16))
    canvas = _canvas(scene.photo)
    look = faulty_look(LOOKS[scene.light], fault)
    count = round(clip.seconds * scene.encoder.fps)
    held: Image | None = None
    for number in range(count):
        t = number / scene.encoder.fps
        picture = held if held is not None else _render(canvas, scene, look, fault, t, rng)
        if fault is not None and fault.frozen:
            held = picture  # the sensor is stuck on its first frame, noise and all
        frame = np.asarray(picture, dtype=np.uint8)
        _osd(frame, t, scene.osd_bottom)
        yield frame.tobytes()


def _render(
    canvas: Image, scene: PhotoScene, look: Look, fault: Fault | None, t: float,
    rng: np.random.Generator,
) -> Image:  # fmt: skip
    light = _view(canvas, scene.motion, t)
    if look.hot_spot:
        light = light * hot_spot()
    return through_lens(light, look, fault, rng)


def through_lens(light: Image, look: Look, fault: Fault | None, rng: np.random.Generator) -> Image:
    """What the camera makes of the light in front of it (linear, WIDTH x HEIGHT).

    The fault at the lens (defocus, fog, a cover, lost signal), then sensor, gain and
    curve. Shared with the blind4 set (nvr_camsim.labelled_footage).
    """
    if fault is not None and fault.defocus:
        light = np.asarray(cv2.filter2D(light, -1, _disc(fault.defocus)), dtype=np.float32)
    if fault is not None and fault.veil:  # fog scatters light evenly over the view
        light = light * (1.0 - fault.veil) + fault.veil * 0.8
    if fault is not None and fault.cover == "signal":  # the encoder's black, no sensor
        return np.full((HEIGHT, WIDTH, 3), 8.0, dtype=np.float32)
    if fault is not None and fault.cover:  # at the lens: lit by what reaches it
        light = _cover(fault.cover, light, rng) / look.light
    return _expose(light, look, rng)


def faulty_look(look: Look, fault: Fault | None) -> Look:
    """The camera's exposure with the fault's.

    An exposure fault is set against the day picture (light x gain), whatever the
    camera's mode (see `Fault.exposure`).
    """
    if fault is not None and fault.exposure != 1.0:
        return replace(look, light=fault.exposure / look.gain)
    return look


def _encode(clip: Clip, fault: Fault | None) -> None:
    if clip.path.is_file():
        return
    assert isinstance(clip.scene, PhotoScene)
    encode_raw(clip, clip.scene.encoder, _frames(clip, clip.scene, fault))


def encode_raw(clip: Clip, encoder: PhotoEncoder, frames: Iterator[bytes]) -> None:
    """Pipe raw BGR frames (WIDTH x HEIGHT) through ffmpeg into the clip's file.

    Written under a temporary name and renamed: parallel runs never read half a file.
    """
    tmp = clip.path.with_suffix(f".tmp{os.getpid()}.{threading.get_ident()}.mp4")
    argv = [
        require_tool("ffmpeg"), "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
        "-f", "rawvideo", "-pix_fmt", "bgr24", "-s", f"{WIDTH}x{HEIGHT}",
        "-r", str(encoder.fps), "-i", "pipe:", "-pix_fmt", "yuv420p",
        *encoder.args, "-an", str(tmp),
    ]  # fmt: skip
    try:
        with tempfile.TemporaryFile() as errors:
            with subprocess.Popen(argv, stdin=subprocess.PIPE, stderr=errors) as proc:
                assert proc.stdin is not None
                try:
                    for frame in frames:
                        proc.stdin.write(frame)
                except BrokenPipeError:
                    pass  # ffmpeg failed: its message says why
                proc.stdin.close()
                code = proc.wait(ENCODE_TIMEOUT_S)
            errors.seek(0)
            if code != 0:
                text = errors.read().decode(errors="replace").strip().splitlines()
                raise ClipError(f"encoding {clip.name} failed: {(text or ['no output'])[-1]}")
        tmp.replace(clip.path)
    finally:
        tmp.unlink(missing_ok=True)
