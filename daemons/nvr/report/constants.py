"""nvr-report's intervals and names, in one place."""

from __future__ import annotations

from nvr.core.alarms import REPORT_EVENT_CURSOR_KEY

SOURCE = "nvr-report"
TICK_SECONDS = 1.0
# Events read per tick: a burst (a janitor pass) is spread over ticks.
EVENTS_PER_TICK = 500
# report_state keys.
EVENT_CURSOR_KEY = REPORT_EVENT_CURSOR_KEY  # nvr-hse's retention reads it too
VALIDATION_CURSOR_KEY = "validations_cursor"
DAILY_KEY = "daily_summary_day"
STARTS_KEY = "daemon_starts"
MS_PER_MINUTE = 60_000
MS_PER_DAY = 86_400_000
