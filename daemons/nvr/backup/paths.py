"""Where segments live: `<recordings>/<camera>/<YYYY-MM-DD>/<HH-MM-SS>.<ext>`, names in UTC.

UTC, not local time: local names repeat an hour when DST ends, so two segments could claim
the same name and the index could not order them. The index stores UTC milliseconds as
well; people see local time in the status page and reports.

ffmpeg never writes those names itself: it writes `<camera>/.incoming/<run>-<n>.<ext>`
(a name no clock can repeat) and nvr-backup links each closed file to its dated name
without replacing anything; a second file of the same second gets `<HH-MM-SS>~2.<ext>`.
See docs/design/recording.md, invariants 4 and 8.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from pathlib import Path

from nvr.core.config import Container

EXTENSIONS = {Container.FMP4: "mp4", Container.MPEGTS: "ts"}
# `08-00-00.mp4`, or `08-00-00~2.mp4` for a second file that claims the same second (after
# the clock stepped back): `~` sorts after `.`, so the names of a day still sort by time.
SEGMENT_NAME = re.compile(r"^(\d{2})-(\d{2})-(\d{2})(?:~\d+)?\.(mp4|ts)$")
DAY_FORMAT = "%Y-%m-%d"
TIME_FORMAT = "%H-%M-%S"
# Where ffmpeg writes, inside each camera directory (hidden: not a day, not a camera).
STAGING_DIR = ".incoming"
STAGED_NAME = re.compile(r"^([0-9a-f]+)-(\d{6})\.(mp4|ts)$")
# Enough for any plausible pile-up of one second (a clock stepped back many times).
MAX_SAME_SECOND = 1000


def output_pattern(recordings_dir: Path, camera: str, container: Container, run: str) -> str:
    """The numbered pattern given to ffmpeg's segment muxer: unique per run, whatever the clock.

    Not strftime: after the wall clock steps back, strftime names repeat and ffmpeg would
    truncate a file that is already indexed (docs/design/recording.md, invariant 8).
    """
    return str(recordings_dir / camera / STAGING_DIR / f"{run}-%06d.{EXTENSIONS[container]}")


def ensure_staging_directory(recordings_dir: Path, camera: str) -> None:
    """Create the directory ffmpeg writes into: ffmpeg does not create directories."""
    (recordings_dir / camera / STAGING_DIR).mkdir(parents=True, exist_ok=True)


def staged_relative(camera: str, name: str) -> str:
    """Index-style path of a file ffmpeg reported (a basename in the staging directory)."""
    return f"{camera}/{STAGING_DIR}/{name}"


def is_staged(relative: str) -> bool:
    """True for a path still in a camera's staging directory."""
    parts = relative.split("/")
    return len(parts) == 3 and parts[1] == STAGING_DIR


def place_segment(recordings_dir: Path, relative: str, start_ms: int) -> str:
    """Give a closed staged file its dated name, never replacing a file; returns the new path.

    link(2) fails when the target exists, so an existing (perhaps indexed) file can never
    be replaced: the next free `~N` name is taken instead. The staged name is removed
    after the link; a crash in between leaves a staged file with two links, which the
    start-up reconcile recognises (`staged_leftovers`).
    """
    source = recordings_dir / relative
    camera = relative.split("/")[0]
    start = datetime.fromtimestamp(start_ms / 1000, UTC)
    day_dir = recordings_dir / camera / start.strftime(DAY_FORMAT)
    day_dir.mkdir(exist_ok=True)
    stem, ext = start.strftime(TIME_FORMAT), source.suffix
    for attempt in range(1, MAX_SAME_SECOND + 1):
        name = f"{stem}{ext}" if attempt == 1 else f"{stem}~{attempt}{ext}"
        try:
            os.link(source, day_dir / name)
        except FileExistsError:
            continue
        except FileNotFoundError:
            # The janitor removed the (old, empty) day folder meanwhile: make it again.
            day_dir.mkdir(exist_ok=True)
            os.link(source, day_dir / name)
        source.unlink()
        return f"{camera}/{day_dir.name}/{name}"
    raise FileExistsError(f"{MAX_SAME_SECOND} segments already named {day_dir}/{stem}{ext}")
