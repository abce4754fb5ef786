"""What a time range of a camera really holds, said the same way by export and protect.

Issue 24: `--from=-1m --to=now` silently gave 25 s. A range partly never recorded, or
whose newest segment is still being written, says so with the real duration.
"""

from __future__ import annotations

from nvr.core.tables.recordings import GAP_IN_PROGRESS, Gap, Segment


def recorded_ms(segments: list[Segment], start: int, end: int) -> int:
    """Milliseconds of [start, end) the segments cover."""
    return sum(max(0, min(s.end_ms, end) - max(s.start_ms, start)) for s in segments)


def range_summary(verb: str, segments: list[Segment], gaps: list[Gap], start: int, end: int) -> str:
    """`exported 25.0 s of the 60 s asked for: not in it: ...`: what a range really holds."""
    asked, got = (end - start) / 1000, recorded_ms(segments, start, end) / 1000
    line = f"{verb} {got:.1f} s of the {asked:g} s asked for"
    if not gaps or got >= asked:
        return line
    why: dict[str, float] = {}
    for gap in gaps:
        seconds = (min(gap.end_ms, end) - max(gap.start_ms, start)) / 1000
        cause = gap.reason.split(" at ")[0]  # "deleted by retention at <time>": one cause
        why[cause] = why.get(cause, 0.0) + max(0.0, seconds)
    parts = [f"{reason} {seconds:.0f} s" for reason, seconds in why.items()]
    if GAP_IN_PROGRESS in why:
        parts.append("the segment being written counts once it closes")
    return f"{line}: not in it: {'; '.join(parts)}"
