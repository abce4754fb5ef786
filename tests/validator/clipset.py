"""The labelled clip set: scenes x defects x strengths, generated once with ffmpeg's lavfi.

Cached under ~/.cache/nvr-dev/validator-set/<VERSION>/ (or $NVR_DEV_CACHE); a clip is
written under a temporary name and renamed, so parallel runs never read half a file.
Every clip carries a running clock (drawtext), as a camera's OSD, also when frozen.
"""

from __future__ import annotations

import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from nvr.core.tools import require_tool
from nvr_camsim.clips import find_font

VERSION = "v2"
SIZE = "640x360"
RATE = 25
SECONDS = 8
BASELINE_SECONDS = 4.0  # the good clip's first seconds teach the baseline, as a first check
EVAL_START = 4.0

# What the lens sees in each scene (the sensor's noise is added after any optical defect).
SCENES = {
    # a moving test pattern
    "moving": f"testsrc2=size={SIZE}:rate={RATE}",
    # a textured scene: the game of life (with strong sensor noise, below)
    "texture": f"life=size={SIZE}:rate={RATE}:mold=10:ratio=0.3:seed=7:life_color=#e0e0e0"
    ":death_color=#505050:mold_color=#505050",
    # a still scene: only sensor noise and the clock move
    "static": f"mandelbrot=size={SIZE}:rate={RATE}:end_pts=1,trim=end_frame=1,loop=-1:1,"
    f"setpts=N/{RATE}/TB,format=yuv420p",
    # night: dark but valid
    "night": f"testsrc2=size={SIZE}:rate={RATE},lutyuv=y='16+(val-16)*0.5':u='128+(val-128)*0.4'"
    ":v='128+(val-128)*0.4'",
}
# Sensor noise per scene: a live camera's picture is never bit-identical; a frozen one is.
NOISE = {"moving": "", "texture": ",noise=alls=12:allf=t", "static": ",noise=alls=6:allf=t",
         "night": ",noise=alls=5:allf=t"}  # fmt: skip


def _freeze(scene: str) -> str:
    return f"{scene},trim=start_frame=30:end_frame=31,loop=-1:1,setpts=N/{RATE}/TB"


def _dark(k: float) -> str:
    return f"lutyuv=y='16+(val-16)*{k}':u='128+(val-128)*0.3':v='128+(val-128)*0.3'"


# defect -> [(strength name, filter graph from the scene name)]
DEFECTS: dict[str, list[tuple[str, str]]] = {
    "black": [
        ("pure", f"color=c=black:size={SIZE}:rate={RATE}"),
        ("noisy", f"color=c=0x101010:size={SIZE}:rate={RATE},noise=alls=4:allf=t"),
    ],
    "frozen": [("still", "{frozen}")],  # no sensor noise: the same frame again and again
    "blurred": [
        ("soft", "{scene},gblur=sigma=3"),
        ("medium", "{scene},gblur=sigma=5"),
        ("strong", "{scene},boxblur=10:2"),
    ],
    "dark": [("k0.25", "{scene}," + _dark(0.25)), ("k0.2", "{scene}," + _dark(0.2))],
    "washed": [
        ("haze", "{scene},eq=brightness=0.45:contrast=0.4"),
        ("glare", "{scene},eq=brightness=0.6:contrast=0.25"),
    ],
    "covered": [
        ("grey", f"color=c=0x808080:size={SIZE}:rate={RATE}"),
        ("cloth", "{scene},gblur=sigma=40,eq=contrast=0.2"),
        ("hand", f"color=c=0x503828:size={SIZE}:rate={RATE},noise=alls=3:allf=t"),
    ],
}


@dataclass(frozen=True)
class Clip:
    """One labelled clip: its scene, its defect (None: healthy) and the file."""

    scene: str
    defect: str | None
    strength: str
    path: Path

    @property
    def name(self) -> str:
        """e.g. `moving/blurred/soft`."""
        return f"{self.scene}/{self.defect or 'good'}/{self.strength}"


def cache_dir() -> Path:
    """Where the set lives, keyed by VERSION."""
    base = os.environ.get("NVR_DEV_CACHE") or str(Path.home() / ".cache" / "nvr-dev")
    return Path(base) / "validator-set" / VERSION


def _graph(scene: str, defect: str | None, template: str) -> str:
    picture = template.format(scene=SCENES[scene], frozen=_freeze(SCENES[scene]))
    if "{scene}" in template:
        picture += NOISE[scene]
    clock = (
        f"drawtext=fontfile={find_font()}:text='%{{pts\\:hms}}':x=16:y=16:fontsize=18"
        ":fontcolor=white:box=1:boxcolor=black@0.6:boxborderw=4"
    )
    return f"{picture},format=yuv420p,{clock}"


def clips() -> list[Clip]:
    """Every clip of the set (files may not exist yet: see `ensure`)."""
    out = []
    root = cache_dir()
    for scene in SCENES:
        out.append(Clip(scene, None, "plain", root / f"{scene}-good.mp4"))
        for defect, strengths in DEFECTS.items():
            for strength, _ in strengths:
                out.append(Clip(scene, defect, strength, root / f"{scene}-{defect}-{strength}.mp4"))
    return out


def _template(clip: Clip) -> str:
    if clip.defect is None:
        return "{scene}"
    return dict(DEFECTS[clip.defect])[clip.strength]


def _encode(clip: Clip) -> None:
    if clip.path.exists():
        return
    tmp = clip.path.with_suffix(f".tmp{os.getpid()}.mp4")
    argv = [
        require_tool("ffmpeg"), "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
        "-f", "lavfi", "-i", _graph(clip.scene, clip.defect, _template(clip)),
        "-t", str(SECONDS), "-c:v", "libx264", "-preset", "veryfast", "-crf", "23",
        "-g", str(RATE), "-keyint_min", str(RATE), "-sc_threshold", "0", "-bf", "0",
        "-an", str(tmp),
    ]  # fmt: skip
    subprocess.run(argv, check=True, timeout=300)
    tmp.replace(clip.path)


def ensure() -> list[Clip]:
    """Encode missing clips (in parallel) and return the set."""
    cache_dir().mkdir(parents=True, exist_ok=True)
    every = clips()
    with ThreadPoolExecutor(max(1, (os.cpu_count() or 2))) as pool:
        list(pool.map(_encode, every))
    return every
