"""The blind4 labelled set: real CCTV footage and site photographs from Debian's opencv-doc.

Built for one blind score of the picture checks (issue 25, fourth round): none of its
sources, camera motions, looks, OSDs or encoders is used by the tuning, held-out or blind
sets, and no threshold was set after looking at it.

- sources (`SOURCES`, each with its licence): OpenCV's sample data as Debian ships it in
  `opencv-doc` (main, DFSG-free; debian/copyright puts samples/data under `Files: *`,
  Apache-2.0 AND BSD-3-Clause): two real videos, a campus road with pedestrians filmed
  by a fixed camera (vtest.avi) and a tree outside a window (tree.avi), and photographs
  of an office block, a cobbled street, a palace facade, a graffiti wall, a town seen
  from a mast, an electronics cabinet, a counter top, and two greyscale indoor views;
- motions: real footage (people walking, leaves), a camera shaking on its pole in the
  wind, a person or a van passing in front of a still view;
- looks: rain streaks, a flickering lamp (the beat of mains light against the shutter),
  lens vignetting, an IR illuminator at long range (`ir-far`), on top of labelled_photo's
  day, noisy, night and IR exposure chains (`LOOKS`);
- OSD: four cameras' styles, in other corners and formats (12-hour clock, day names,
  dd/mm/yyyy, a camera name), boxed or plain, in other Hershey fonts;
- encoders (`ENCODERS`): x264 baseline profile at 15 fps with a 4 s GOP, MPEG-4 part 2
  at 300 kbit/s, MJPEG at 5 fps (every frame a keyframe), x264 main CRF 26 with
  B-frames at 25 fps, x264 capped at 160-200 kbit/s at 8 fps;
- defects (`FAULTS`, the recipe next to each label): video loss, under-exposure by 4.5
  and 5.5 EV, over-exposure (auto-exposure failed: the median at 0.7 of white), a sun or
  headlight flare, a plastic bag over the dome, a cardboard box in front, a hand over
  80 %, defocus by a disc of radius 2.5 and 4 px, grease on the dome, a stuck sensor (OSD
  running) and a stuck encoder (OSD frozen too), each re-encoded by the scene's encoder.

The sensor, gain, colour and lens-fault model is labelled_photo's (`through_lens`),
shared rather than copied. Healthy clips last 24 s (six checks), defect clips 16 s; the
stuck sensor is applied to every scene, the other defects to every third in rotation.
Clips are cached per clip under `$NVR_DEV_CACHE/validator-set/blind4/`, named with a
hash of the recipe and RENDER_VERSION (bump it when the rendering below changes).
See docs/design/validation.md, "The blind4 set".
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
import numpy.typing as npt

from nvr_camsim.errors import ClipError
from nvr_camsim.labelled import Clip, Defect, Kind, recipe_hash, set_cache_dir
from nvr_camsim.labelled_photo import (
    HEIGHT,
    LOOKS,
    WIDTH,
    Fault,
    Image,
    Look,
    PhotoEncoder,
    encode_raw,
    faulty_look,
    frame_canvas,
    hot_spot,
    render_clips,
    through_lens,
    to_linear,
)

RENDER_VERSION = 1
HEALTHY_SECONDS = 24
DEFECT_SECONDS = 16
SAMPLES = Path("/usr/share/doc/opencv-doc/examples/data")
OPENCV_LICENCE = (
    "Apache-2.0 AND BSD-3-Clause (OpenCV samples/data, Debian opencv-doc, debian/copyright"
    " Files: *)"
)
_LINEAR = to_linear(np.arange(256, dtype=np.float32) / 255.0)  # sRGB level -> linear


@dataclass(frozen=True)
class Source:
    """A picture or a video of OpenCV's sample data, what it shows and its licence."""

    name: str
    file: str
    shows: str
    licence: str = OPENCV_LICENCE
    view: tuple[float, float] = (0.5, 0.5)  # centre of the 16:9 framing, as shares
    grey: bool = False  # a greyscale picture: only infrared scenes are made of it

    @property
    def footage(self) -> bool:
        """A video (real motion), not a still."""
        return self.file.endswith(".avi")


SOURCES = {
    s.name: s
    for s in (
        Source(
            "campus",
            "vtest.avi",
            "a campus road from a fixed camera: pedestrians, a lamp post, vans (real"
            " footage, 768x576, 10 fps, 79.5 s; it appears to come from the PETS 2009"
            " benchmark, OpenCV gives no origin)",
            view=(0.5, 0.3),
        ),
        Source("campus-lawn", "vtest.avi", "the same footage, framed on the lawn and path",
               view=(0.5, 0.8)),
        Source("tree", "tree.avi", "a tree outside a window, leaves moving (real footage,"
               " 320x240 Cinepak, 15 fps, 29.6 s)"),
        Source("building", "building.jpg", "an office block with its entrance canopy"),
        Source("street", "leuvenA.jpg", "a cobbled street between brick houses"),
        Source("facade", "home.jpg", "a palace facade against the sky, birds"),
        Source("yard", "graf1.png", "a graffiti wall (a yard's wall, close)"),
        Source("mast", "aero1.jpg", "a town seen from high up (a mast camera)"),
        Source("cabinet", "board.jpg", "an electronics board (a camera in a cabinet)"),
        Source("counter", "stuff.jpg", "a counter top with a pen, a lighter, coins"),
        Source("office", "basketball1.png", "an office, two people (greyscale)", grey=True),
        Source("store", "box_in_scene.png", "boxes on a shelf (greyscale)", grey=True),
    )
}  # fmt: skip


ENCODERS = (
    PhotoEncoder(
        "x264-baseline-gop4",
        15,
        ("-c:v", "libx264", "-profile:v", "baseline", "-preset", "veryfast", "-b:v", "384k",
         "-maxrate", "384k", "-bufsize", "768k", "-g", "60", "-keyint_min", "60",
         "-sc_threshold", "0"),
    ),
    PhotoEncoder(
        "mpeg4-300k", 12.5, ("-c:v", "mpeg4", "-b:v", "300k", "-maxrate", "300k",
                             "-bufsize", "600k", "-g", "25", "-bf", "0"),
    ),
    PhotoEncoder("mjpeg-5fps", 5, ("-c:v", "mjpeg", "-q:v", "7")),
    PhotoEncoder(
        "x264-main-crf26-b2",
        25,
        ("-c:v", "libx264", "-profile:v", "main", "-preset", "superfast", "-crf", "26",
         "-g", "40", "-keyint_min", "40", "-bf", "2", "-sc_threshold", "0"),
    ),
    PhotoEncoder(
        "x264-160k-8fps",
        8,
        ("-c:v", "libx264", "-preset", "slow", "-b:v", "160k", "-maxrate", "200k",
         "-bufsize", "400k", "-g", "16", "-keyint_min", "16", "-bf", "1"),
    ),
)  # fmt: skip

# labelled_photo's exposure chains, and an IR illuminator at long range (dimmer, more gain).
LOOK_BY_NAME: dict[str, Look] = {
    **{str(light): look for light, look in LOOKS.items()},
    "ir-far": Look(1 / 30, 8.0, saturation=0.0, grey=True, hot_spot=True),
}


class Motion(StrEnum):
    """How the picture moves besides noise and the clock."""

    STILL = "still"
    FOOTAGE = "footage"  # real motion: the source is a video
    SHAKE = "shake"  # the camera sways on its pole in the wind
    PASSER = "passer"  # someone walks (or a van drives) through a still view


@dataclass(frozen=True)
class Osd:
    """A camera's burnt-in date and time: strftime format, corner, box, font, name."""

    fmt: str
    corner: str  # "top-left", "top-right", "bottom-left", "bottom-right"
    boxed: bool
    font: int
    label: str = ""
    colour: tuple[int, int, int] = (255, 255, 255)


OSDS = (
    Osd("%d/%m/%Y %H:%M:%S", "bottom-left", True, cv2.FONT_HERSHEY_PLAIN, "CAM07"),
    Osd("%a %d-%b-%Y %I:%M:%S %p", "top-right", True, cv2.FONT_HERSHEY_PLAIN),
    Osd("%Y/%m/%d %H:%M:%S", "bottom-right", False, cv2.FONT_HERSHEY_DUPLEX,
        colour=(40, 230, 240)),
    Osd("%H:%M:%S", "top-left", False, cv2.FONT_HERSHEY_COMPLEX_SMALL, "GATE 2"),
)  # fmt: skip


@dataclass(frozen=True)
class FootageScene:
    """What a camera looks at and how: source, look, motion, weather, encoder, OSD."""

    name: str
    kind: Kind
    source: Source
    look: str  # a key of LOOK_BY_NAME
    motion: Motion
    effects: tuple[str, ...]  # "rain", "flicker", "vignette"
    encoder: PhotoEncoder
    osd: Osd
    start_s: float = 0.0  # where in the footage the clip starts
    day: str = ""  # the day scene this one is the night/IR version of (same camera)


# name, kind, source, look, motion, effects, footage start, day scene
_PLAN: tuple[tuple[str, Kind, str, str, Motion, tuple[str, ...], float, str], ...] = (
    ("campus-road", Kind.DAY, "campus", "day", Motion.FOOTAGE, ("vignette",), 0, ""),
    ("campus-lawn", Kind.DAY, "campus-lawn", "day", Motion.SHAKE, (), 26, ""),
    ("campus-rain", Kind.DAY, "campus", "day", Motion.FOOTAGE, ("rain",), 52, ""),
    ("campus-noisy", Kind.NOISY, "campus-lawn", "noisy", Motion.FOOTAGE, (), 40, ""),
    ("campus-night", Kind.NIGHT, "campus", "night", Motion.FOOTAGE, ("vignette",), 0,
     "campus-road"),
    ("campus-ir", Kind.IR, "campus-lawn", "ir", Motion.SHAKE, (), 26, "campus-lawn"),
    ("tree-day", Kind.DAY, "tree", "day", Motion.FOOTAGE, (), 2, ""),
    ("tree-night", Kind.NIGHT, "tree", "night", Motion.FOOTAGE, (), 2, "tree-day"),
    ("tree-ir", Kind.IR, "tree", "ir", Motion.FOOTAGE, (), 4, "tree-day"),
    ("building-still", Kind.STATIC, "building", "day", Motion.STILL, (), 0, ""),
    ("building-shake", Kind.DAY, "building", "day", Motion.SHAKE, (), 0, ""),
    ("building-night", Kind.NIGHT, "building", "night", Motion.STILL, (), 0, "building-still"),
    ("building-ir", Kind.IR, "building", "ir", Motion.STILL, (), 0, "building-still"),
    ("street-passer", Kind.DAY, "street", "day", Motion.PASSER, (), 0, ""),
    ("street-rain", Kind.DAY, "street", "day", Motion.STILL, ("rain",), 0, ""),
    ("street-night", Kind.NIGHT, "street", "night", Motion.PASSER, ("flicker",), 0,
     "street-passer"),
    ("street-ir", Kind.IR, "street", "ir", Motion.PASSER, (), 0, "street-passer"),
    ("facade-still", Kind.STATIC, "facade", "day", Motion.STILL, ("vignette",), 0, ""),
    ("facade-noisy", Kind.NOISY, "facade", "noisy", Motion.STILL, (), 0, ""),
    ("facade-ir", Kind.IR, "facade", "ir", Motion.STILL, ("vignette",), 0, "facade-still"),
    ("yard-passer", Kind.DAY, "yard", "day", Motion.PASSER, (), 0, ""),
    ("yard-night", Kind.NIGHT, "yard", "night", Motion.PASSER, (), 0, "yard-passer"),
    ("yard-ir", Kind.IR, "yard", "ir-far", Motion.STILL, (), 0, "yard-passer"),
    ("mast-shake", Kind.DAY, "mast", "day", Motion.SHAKE, (), 0, ""),
    ("mast-rain", Kind.DAY, "mast", "day", Motion.STILL, ("rain",), 0, ""),
    ("mast-night", Kind.NIGHT, "mast", "night", Motion.SHAKE, (), 0, "mast-shake"),
    ("cabinet-flicker", Kind.STATIC, "cabinet", "day", Motion.STILL, ("flicker",), 0, ""),
    ("cabinet-noisy", Kind.NOISY, "cabinet", "noisy", Motion.STILL, ("vignette",), 0, ""),
    ("counter-still", Kind.STATIC, "counter", "day", Motion.STILL, ("vignette",), 0, ""),
    ("counter-flicker", Kind.STATIC, "counter", "day", Motion.STILL, ("flicker",), 0, ""),
    ("counter-night", Kind.NIGHT, "counter", "night", Motion.STILL, ("vignette",), 0,
     "counter-still"),
    ("office-ir", Kind.IR, "office", "ir", Motion.STILL, (), 0, ""),
    ("office-ir-passer", Kind.IR, "office", "ir", Motion.PASSER, (), 0, ""),
    ("store-ir", Kind.IR, "store", "ir", Motion.STILL, ("vignette",), 0, ""),
    ("store-ir-far", Kind.NOISY, "store", "ir-far", Motion.SHAKE, (), 0, ""),
)  # fmt: skip


def _scenes() -> tuple[FootageScene, ...]:
    """The plan's scenes; a night/IR scene keeps its day camera's encoder and OSD."""
    scenes: dict[str, FootageScene] = {}
    for index, (name, kind, source, look, motion, effects, start, day) in enumerate(_PLAN):
        same = scenes.get(day)
        encoder = same.encoder if same else ENCODERS[index % len(ENCODERS)]
        osd = same.osd if same else OSDS[index % len(OSDS)]
        scenes[name] = FootageScene(
            name, kind, SOURCES[source], look, motion, effects, encoder, osd, start, day
        )
    return tuple(scenes.values())


SCENES = _scenes()


@dataclass(frozen=True)
class Fault4:
    """A defect recipe: labelled_photo's lens model, plus what blind4 adds.

    `extra`: "overexpose" (auto-exposure failed: the picture's median at 0.7 of white,
    linear; set against the scene, not the day, so a dark scene is over-exposed too),
    "flare" (a sun or headlight flare: a glow and a veil over the view), "bag" (a plastic
    bag over the dome: the view diffused), "box" (a cardboard box in front), "fingers" (a
    hand over 80 % of the lens), "smear" (grease on the dome).
    `hold_osd`: the encoder repeats its last frame, burnt-in clock included.
    """

    defect: Defect
    strength: str
    exposure: float = 1.0  # against the day picture, as labelled_photo's Fault
    defocus: float = 0.0
    cover: str = ""  # labelled_photo's covers: "signal" (video loss)
    frozen: bool = False
    extra: str = ""
    hold_osd: bool = False

    def lens(self) -> Fault:
        """The part labelled_photo renders."""
        return Fault(
            self.defect,
            self.strength,
            exposure=self.exposure,
            defocus=self.defocus,
            cover=self.cover,
            frozen=self.frozen,
        )


FAULTS = (
    Fault4(Defect.BLACK, "video-loss", cover="signal"),
    Fault4(Defect.DARK, "under-4.5ev", exposure=2**-4.5),
    Fault4(Defect.DARK, "under-5.5ev", exposure=2**-5.5),
    Fault4(Defect.WASHED, "over-exposed", extra="overexpose"),
    Fault4(Defect.WASHED, "sun-flare", extra="flare"),
    Fault4(Defect.COVERED, "plastic-bag", extra="bag"),
    Fault4(Defect.COVERED, "cardboard-box", extra="box"),
    Fault4(Defect.COVERED, "hand-80", extra="fingers"),
    Fault4(Defect.BLURRED, "defocus-r2.5", defocus=2.5),
    Fault4(Defect.BLURRED, "defocus-r4", defocus=4.0),
    Fault4(Defect.BLURRED, "greasy-dome", extra="smear"),
    Fault4(Defect.FROZEN, "encoder-stuck", frozen=True, hold_osd=True),
    Fault4(Defect.FROZEN, "sensor-stuck", frozen=True),
)
EVERY_SCENE = frozenset({"sensor-stuck"})
ROTATION = 3  # the other defects go to every third scene, in rotation


@dataclass(frozen=True)
class FootageSet:
    """The blind4 set: every scene healthy, a stuck sensor on each, other defects rotated."""

    name: str
    scenes: tuple[FootageScene, ...]
    faults: tuple[Fault4, ...]

    def clips(self) -> list[Clip]:
        """Every clip of the set (files may not exist yet: see `ensure`)."""
        out = []
        rotating = [f for f in self.faults if f.strength not in EVERY_SCENE]
        for index, scene in enumerate(self.scenes):
            out.append(self._clip(scene, None))
            out += [self._clip(scene, f) for f in self.faults if f.strength in EVERY_SCENE]
            out += [
                self._clip(scene, fault)
                for number, fault in enumerate(rotating)
                if (index + number) % ROTATION == 0
            ]
        return out

    def _clip(self, scene: FootageScene, fault: Fault4 | None) -> Clip:
        seconds = DEFECT_SECONDS if fault else HEALTHY_SECONDS
        recipe = repr((scene, fault, seconds, WIDTH, HEIGHT, RENDER_VERSION))
        label = f"{fault.defect}-{fault.strength}" if fault else "good-plain"
        path = set_cache_dir(self.name) / f"{scene.name}-{label}-{recipe_hash(recipe)}.mp4"
        defect = fault.defect if fault else None
        return Clip(self.name, scene, defect, fault.strength if fault else "plain", recipe,
                    path, seconds)  # fmt: skip

    def ensure(self, only: Sequence[Clip] | None = None, workers: int = 0) -> list[Clip]:
        """Render the missing clips (in parallel) and return them (all by default)."""
        wanted = list(only) if only is not None else self.clips()
        render_clips(self.name, wanted, self.faults, _encode, workers)
        return wanted


BLIND4 = FootageSet("blind4", SCENES, FAULTS)


# -- sources --------------------------------------------------------------------------------
def source_path(source: Source) -> Path:
    """The file inside Debian's opencv-doc (packaging/dev/install-deps.sh installs it)."""
    path = SAMPLES / source.file
    if not path.is_file():
        raise ClipError(f"{path} is missing: install opencv-doc (packaging/dev/install-deps.sh)")
    return path


def _linear(bgr: npt.NDArray[Any]) -> Image:
    return np.asarray(_LINEAR[bgr], dtype=np.float32)


@cache
def _still(source: Source) -> Image:
    bgr = cv2.imread(str(source_path(source)), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ClipError(f"cannot read {source.file}")
    return frame_canvas(_linear(bgr), source.view)


def _footage(source: Source, start_s: float) -> Iterator[tuple[float, Image]]:
    """The video's frames from `start_s` on, as (time from start, canvas), decoded by PyAV."""
    with av.open(str(source_path(source))) as container:
        for frame in container.decode(container.streams.video[0]):
            t = float(frame.time or 0.0) - start_s
            if t >= -1e-6:
                yield t, frame_canvas(_linear(frame.to_ndarray(format="bgr24")), source.view)


def _pictures(scene: FootageScene, seconds: float) -> Callable[[float], Image]:
    """The canvas in front of the camera at time t (a still, or the footage's frame)."""
    if not scene.source.footage:
        canvas = _still(scene.source)
        return lambda _t: canvas
    frames = _footage(scene.source, scene.start_s)
    first = next(frames, None)
    if first is None:
        raise ClipError(f"{scene.source.file} has no frame after {scene.start_s} s")
    current, upcoming = first, next(frames, None)

    def at(t: float) -> Image:
        nonlocal current, upcoming
        while upcoming is not None and upcoming[0] <= t + 1e-6:
            current, upcoming = upcoming, next(frames, None)
        if upcoming is None and t > current[0] + 1.0:
            raise ClipError(f"{scene.source.file} ends before {scene.start_s + seconds} s")
        return current[1]

    return at


# -- the camera -----------------------------------------------------------------------------
def _phase(name: str) -> float:
    return int(recipe_hash(name), 16) % 1000 / 1000 * 2 * math.pi


def _view(canvas: Image, scene: FootageScene, t: float) -> Image:
    """The lens's view: the canvas's centre, moved by the pole's sway when it shakes."""
    dx = dy = 0.0
    if scene.motion is Motion.SHAKE:  # gusts: two frequencies, up to ~4 px at 320 wide
        p = _phase(scene.name)
        dx = 2.5 * math.sin(2 * math.pi * 0.9 * t + p) + 1.2 * math.sin(2 * math.pi * 2.3 * t)
        dy = 1.5 * math.sin(2 * math.pi * 1.1 * t + 2 * p)
    cx, cy = canvas.shape[1] / 2, canvas.shape[0] / 2
    matrix = np.array([[1, 0, cx + dx - WIDTH / 2], [0, 1, cy + dy - HEIGHT / 2]], dtype=np.float32)
    return np.asarray(
        cv2.warpAffine(
            canvas, matrix, (WIDTH, HEIGHT), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
        ),
        dtype=np.float32,
    )


def _passer(light: Image, scene: FootageScene, t: float) -> None:
    """A person (or on the yard wall, a van) crossing the view, in dark clothes."""
    period = 14.0
    x = int(-40 + (WIDTH + 80) * ((t + _phase(scene.name)) % period) / period)
    if scene.source.name == "yard":
        cv2.rectangle(light, (x - 60, 70), (x + 60, 160), (0.12, 0.1, 0.09), -1)
        cv2.rectangle(light, (x + 20, 80), (x + 55, 110), (0.02, 0.02, 0.02), -1)
        return
    bob = int(2 * abs(math.sin(2 * math.pi * 1.8 * t)))
    cv2.rectangle(light, (x - 6, 110 - bob), (x + 6, 150), (0.03, 0.03, 0.04), -1)
    cv2.circle(light, (x, 102 - bob), 5, (0.1, 0.14, 0.2), -1)


@cache
def _vignette() -> Image:
    yy, xx = np.mgrid[:HEIGHT, :WIDTH].astype(np.float32)
    r2 = ((xx - WIDTH / 2) / (WIDTH / 2)) ** 2 + ((yy - HEIGHT / 2) / (HEIGHT / 2)) ** 2
    return np.asarray(1.0 - 0.25 * r2, dtype=np.float32)[..., None]  # corners x 0.5


def _rain(light: Image, rng: np.random.Generator) -> Image:
    """Lit drops falling past the lens: short slanted streaks, a little haze."""
    streaks = np.zeros((HEIGHT, WIDTH), dtype=np.float32)
    for x, y in zip(rng.integers(0, WIDTH, 90), rng.integers(-10, HEIGHT, 90), strict=True):
        cv2.line(streaks, (int(x), int(y)), (int(x) - 3, int(y) + 12), 1.0, 1)
    streaks = np.asarray(cv2.GaussianBlur(streaks, (0, 0), 0.7), dtype=np.float32)
    level = float(light.mean())
    return np.asarray(light * 0.95 + 0.05 * level + 0.8 * level * streaks[..., None],
                      dtype=np.float32)  # fmt: skip


def _scene_light(canvas: Image, scene: FootageScene, look: Look, t: float,
                 rng: np.random.Generator) -> Image:  # fmt: skip
    """The light reaching the lens: view, a passer-by, weather, lamps, vignetting."""
    light = _view(canvas, scene, t)
    if scene.motion is Motion.PASSER:
        _passer(light, scene, t)
    if "rain" in scene.effects:
        light = _rain(light, rng)
    if "flicker" in scene.effects:  # mains light beating against the shutter
        light = light * (1.0 + 0.12 * math.sin(2 * math.pi * 2.9 * t)
                         + 0.05 * math.sin(2 * math.pi * 7.3 * t))  # fmt: skip
    if "vignette" in scene.effects:
        light = light * _vignette()
    if look.hot_spot:
        light = light * hot_spot()
    return np.asarray(light, dtype=np.float32)


# -- what blind4 adds at the lens -----------------------------------------------------------
def _fingers_mask() -> Image:
    """A hand over ~80 % of the lens from the bottom right, out of focus."""
    mask = np.zeros((HEIGHT, WIDTH), dtype=np.float32)
    cv2.ellipse(mask, (200, 145), (195, 125), -20, 0, 360, 1.0, -1)
    for x0, angle in ((40, -2.2), (95, -2.0), (150, -1.85), (205, -1.7)):
        tip = (int(x0 + 100 * math.cos(angle)), int(60 + 100 * math.sin(angle)))
        cv2.line(mask, (x0 + 40, 90), tip, 1.0, 34)
    return np.asarray(cv2.GaussianBlur(mask, (0, 0), 8), dtype=np.float32)[..., None]


FINGERS = _fingers_mask()


def _at_lens(light: Image, look: Look, fault: Fault4, rng: np.random.Generator) -> Image:
    """The light after blind4's own faults (labelled_photo's come after, in through_lens)."""
    # A cover or a flare is lit by what reaches it, whatever the camera's gain: dividing
    # by the exposure keeps its level in the picture the same in day, night and IR.
    exposure = look.light * look.gain
    if fault.extra == "overexpose":
        return np.asarray(light * (0.7 / exposure / max(1e-4, float(np.median(light)))),
                          dtype=np.float32)  # fmt: skip
    if fault.extra == "flare":
        yy, xx = np.mgrid[:HEIGHT, :WIDTH].astype(np.float32)
        glow = np.exp(-(((xx - 0.8 * WIDTH) ** 2 + (yy - 0.15 * HEIGHT) ** 2) / (0.3 * WIDTH) ** 2))
        return np.asarray(light * 0.8 + (0.35 + 2.0 * glow[..., None]) / exposure,
                          dtype=np.float32)  # fmt: skip
    if fault.extra == "bag":
        crinkle = cv2.GaussianBlur(rng.standard_normal((HEIGHT, WIDTH)).astype(np.float32),
                                   (0, 0), 6)  # fmt: skip
        diffused = cv2.GaussianBlur(light, (0, 0), 25)
        return np.asarray(
            (0.55 * diffused + 0.08 / exposure) * (1.0 + 0.6 * crinkle[..., None]),
            dtype=np.float32,
        )
    if fault.extra == "box":
        shade = np.linspace(0.6, 1.0, WIDTH, dtype=np.float32)[None, :, None]
        brown = np.array([0.05, 0.09, 0.14], dtype=np.float32)
        return np.asarray(np.broadcast_to(brown * shade / exposure, light.shape), dtype=np.float32)
    if fault.extra == "fingers":
        skin = np.array([0.03, 0.045, 0.08], dtype=np.float32) / exposure
        return np.asarray(FINGERS * skin + (1 - FINGERS) * light, dtype=np.float32)
    if fault.extra == "smear":
        return np.asarray(
            0.85 * cv2.GaussianBlur(light, (0, 0), 2.0)
            + 0.15 * cv2.GaussianBlur(light, (0, 0), 12),
            dtype=np.float32,
        )
    return light


def _osd(frame: npt.NDArray[np.uint8], t: float, osd: Osd) -> None:
    """The camera's date and time in its style, changing once a second."""
    start = datetime.datetime(2026, 11, 3, 21, 14, 5, tzinfo=datetime.UTC)
    text = (start + datetime.timedelta(seconds=int(t))).strftime(osd.fmt)
    text = f"{text}  {osd.label}" if osd.label else text
    scale = {cv2.FONT_HERSHEY_PLAIN: 0.8, cv2.FONT_HERSHEY_COMPLEX_SMALL: 0.6}.get(osd.font, 0.4)
    (width, height), base = cv2.getTextSize(text, osd.font, scale, 1)
    x = 4 if osd.corner.endswith("left") else WIDTH - width - 4
    y = height + 4 if osd.corner.startswith("top") else HEIGHT - base - 4
    if osd.boxed:
        cv2.rectangle(frame, (x - 2, y - height - 2), (x + width + 2, y + base), (0, 0, 0), -1)
    cv2.putText(frame, text, (x, y), osd.font, scale, osd.colour, 1, cv2.LINE_AA)


# -- rendering ------------------------------------------------------------------------------
def _frames(clip: Clip, scene: FootageScene, fault: Fault4 | None) -> Iterator[bytes]:
    """The clip's frames, BGR 8-bit, as raw bytes."""
    rng = np.random.default_rng(int(recipe_hash(clip.graph), 16))
    lens = fault.lens() if fault else None
    look = faulty_look(LOOK_BY_NAME[scene.look], lens)
    pictures = _pictures(scene, clip.seconds)
    fps = scene.encoder.fps
    held: Image | None = None
    held_frame: bytes | None = None
    for number in range(round(clip.seconds * fps)):
        t = number / fps
        if held_frame is not None:  # the encoder repeats its last frame, clock and all
            yield held_frame
            continue
        if held is None:
            light = _scene_light(pictures(t), scene, look, t, rng)
            if fault is not None:
                light = _at_lens(light, look, fault, rng)
            picture = through_lens(light, look, lens, rng)
        else:
            picture = held
        if fault is not None and fault.frozen:
            held = picture  # the sensor is stuck on its first frame, noise and all
        frame = np.asarray(picture, dtype=np.uint8)
        _osd(frame, t, scene.osd)
        if fault is not None and fault.hold_osd:
            held_frame = frame.tobytes()
        yield frame.tobytes()


def _encode(clip: Clip, fault: Fault4 | None) -> None:
    if clip.path.is_file():
        return
    assert isinstance(clip.scene, FootageScene)
    encode_raw(clip, clip.scene.encoder, _frames(clip, clip.scene, fault))
