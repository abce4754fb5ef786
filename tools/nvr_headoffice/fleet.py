"""The fleet overview: which sites need attention, filtered and paged (issue 22).

A thousand sites are sorted and filtered from a few numbers each (store.FleetRow: three
queries for the whole fleet); only the sites of the page shown are then read in full
(store.summaries: six queries for the page). Nothing here reads a report body.
See docs/design/headoffice.md, invariant 10.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from nvr_headoffice.constants import (
    COVERAGE_GOOD_PERCENT,
    DISK_FULL_PERCENT,
    SILENT_AFTER_SECONDS,
)
from nvr_headoffice.summary import StatusSummary

# What the page filters by (`?problem=`), in the order it lists them.
PROBLEMS = ("offline", "not_recording", "disk", "gaps")
PROBLEM_LABELS = {
    "offline": "offline",
    "not_recording": "not recording",
    "disk": "disk full",
    "gaps": "reports missing",
}


def is_offline(
    last_report_ms: int | None, heartbeat_ms: int | None, now_ms: int, heartbeat_timeout_s: float
) -> bool:
    """Silent for too long: no report nor heartbeat for the heartbeat timeout.

    A site that never sent a heartbeat (an older box) is judged by its reports alone:
    silent past SILENT_AFTER_SECONDS, three status intervals.
    """
    if heartbeat_ms is not None:
        last = max(heartbeat_ms, last_report_ms or 0)
        return now_ms - last > heartbeat_timeout_s * 1000
    return last_report_ms is None or now_ms - last_report_ms > SILENT_AFTER_SECONDS * 1000


@dataclass(frozen=True)
class Standing:
    """What a site needs, from the few numbers the fleet page sorts and filters by."""

    offline: bool
    missing: int = 0
    unexplained_missing: int = 0
    status: StatusSummary | None = None

    @property
    def problems(self) -> tuple[str, ...]:
        """The PROBLEMS this site has, in their order."""
        status = self.status
        disk = status.disk_percent if status else None
        found = {
            "offline": self.offline,
            "not_recording": status is not None and not status.all_recording,
            "disk": disk is not None and disk >= DISK_FULL_PERCENT,
            "gaps": self.missing > 0,
        }
        return tuple(problem for problem in PROBLEMS if found[problem])

    @property
    def attention(self) -> int:
        """0 needs someone now, 1 worth a look, 2 fine.

        0: offline, unhealthy, a camera not recording, reports lost; 1: degraded, disk
        full, announced drops, a camera under 99 % over 24 h.
        """
        health = self.status.health if self.status else "unknown"
        problems = self.problems
        if (
            self.offline
            or health == "unhealthy"
            or "not_recording" in problems
            or self.unexplained_missing > 0
        ):
            return 0
        day = self.status.worst.get("24h") if self.status else None
        low = day is not None and day < COVERAGE_GOOD_PERCENT
        if health != "healthy" or problems or low:
            return 1
        return 2


@dataclass(frozen=True)
class Entry:
    """A site of the fleet as the selection sees it."""

    site_id: str
    name: str
    standing: Standing

    def matches(self, text: str) -> bool:
        """`q` matches the id or the name, ignoring case."""
        needle = text.casefold()
        return needle in self.site_id.casefold() or needle in self.name.casefold()


@dataclass(frozen=True)
class FleetQuery:
    """`?problem=offline&q=name&page=2&per_page=50`."""

    problem: str | None = None
    text: str = ""
    page: int = 1
    per_page: int = 50


@dataclass(frozen=True)
class Selection:
    """One page of sites, how many matched, and how many have each problem."""

    entries: list[Entry]
    total: int
    pages: int
    counts: dict[str, int] = field(default_factory=dict)


def select(entries: list[Entry], query: FleetQuery, by_attention: bool) -> Selection:
    """Filter by text and problem, order (attention first, or by id), cut out the page.

    The problem counts are of the sites the text matches, before the problem filter:
    they label the filter links.
    """
    matched = [entry for entry in entries if not query.text or entry.matches(query.text)]
    counts = Counter(problem for entry in matched for problem in entry.standing.problems)
    if query.problem:
        matched = [entry for entry in matched if query.problem in entry.standing.problems]
    if by_attention:
        matched.sort(key=lambda entry: (entry.standing.attention, entry.site_id))
    else:
        matched.sort(key=lambda entry: entry.site_id)
    start = (query.page - 1) * query.per_page
    pages = max(1, -(-len(matched) // query.per_page))
    return Selection(
        entries=matched[start : start + query.per_page],
        total=len(matched),
        pages=pages,
        counts={problem: counts.get(problem, 0) for problem in PROBLEMS},
    )
