"""Where segments live: `<recordings>/<camera>/<YYYY-MM-DD>/<HH-MM-SS>.<ext>`, names in UTC.

UTC, not local time: local names repeat an hour when DST ends, so two segments could claim
the same name and the index could not order them. The index stores UTC milliseconds as
well; people see local time in the status page and reports. See docs/design/recording.md.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from nvr.core.config import Container

EXTENSIONS = {Container.FMP4: "mp4", Container.MPEGTS: "ts"}
SEGMENT_NAME = re.compile(r"^(\d{2})-(\d{2})-(\d{2})\.(mp4|ts)$")
DAY_FORMAT = "%Y-%m-%d"
# A segment can be reported closed this long after its clock-aligned name (at most one
# segment plus a GOP); anything later means the name belongs to the previous day.
MAX_REPORT_DELAY = timedelta(hours=12)


def output_pattern(recordings_dir: Path, camera: str, container: Container) -> str:
    """The strftime pattern given to ffmpeg's segment muxer (ffmpeg runs with TZ=UTC)."""
    return str(recordings_dir / camera / "%Y-%m-%d" / f"%H-%M-%S.{EXTENSIONS[container]}")


def ensure_day_directories(recordings_dir: Path, camera: str, now: datetime) -> None:
    """Create today's and tomorrow's directories: ffmpeg does not create directories."""
    for day in (now, now + timedelta(days=1)):
        (recordings_dir / camera / day.strftime(DAY_FORMAT)).mkdir(parents=True, exist_ok=True)


def segment_start(name: str, closed_at: datetime) -> datetime | None:
    """The UTC start of the segment file `name` (a basename), reported closed at closed_at.

    ffmpeg's segment list gives basenames only, so the day comes from the close time:
    a segment named 23-59-00 that closes at 00:00:01 started yesterday.
    """
    match = SEGMENT_NAME.match(name)
    if match is None:
        return None
    hour, minute, second = (int(g) for g in match.groups()[:3])
    start = closed_at.replace(hour=hour, minute=minute, second=second, microsecond=0)
    if start - closed_at > timedelta(minutes=5):
        start -= timedelta(days=1)
    if closed_at - start > MAX_REPORT_DELAY:
        return None
    return start


def relative_path(camera: str, start: datetime, name: str) -> str:
    """Index path of a segment, relative to the recordings directory."""
    return f"{camera}/{start.strftime(DAY_FORMAT)}/{name}"


def start_from_relative(path: str) -> datetime | None:
    """UTC start encoded in an index path (for files found on disk without a row)."""
    parts = path.split("/")
    if len(parts) != 3 or SEGMENT_NAME.match(parts[2]) is None:
        return None
    try:
        day = datetime.strptime(parts[1], DAY_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None
    hour, minute, second = (int(x) for x in parts[2][:8].split("-"))
    return day.replace(hour=hour, minute=minute, second=second)
