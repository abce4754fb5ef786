"""nvr-report's intervals and names, in one place."""

from __future__ import annotations

SOURCE = "nvr-report"
TICK_SECONDS = 1.0
# Events read per tick: a burst (a janitor pass) is spread over ticks.
EVENTS_PER_TICK = 500
# report_state keys.
EVENT_CURSOR_KEY = "events_cursor"
VALIDATION_CURSOR_KEY = "validations_cursor"
DAILY_KEY = "daily_summary_day"
STARTS_KEY = "daemon_starts"
MS_PER_MINUTE = 60_000
MS_PER_DAY = 86_400_000
