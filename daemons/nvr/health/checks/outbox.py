"""Outbox fill: reports waiting for delivery against nvr-uplink's bound.

Warn above a fill level, critical when full (docs/design/health.md, "Checks": the outbox row).
"Full" is `health.outbox_critical_percent` (90 % by default): past the bound nvr-uplink
drops the least important reports and trims the outbox back to 90 %, so a box at 90 % has
dropped reports or is about to (docs/design/outbox.md).
"""

from __future__ import annotations

from nvr.health.facts import Facts, OutboxFill
from nvr.health.model import CheckResult, Severity


def _reason(fill: OutboxFill, percent: float, what: str) -> str:
    return (
        f"outbox {percent:.0f} % full ({fill.rows} reports, {fill.bytes >> 20} MiB of"
        f" {fill.max_rows} / {fill.max_bytes >> 20} MiB): {what}"
    )


class OutboxCheck:
    """One result for the whole outbox (every destination reads the same rows)."""

    name = "outbox"

    def applies(self, facts: Facts) -> str | None:
        """Always: any daemon appends reports, whether or not a destination is set up."""
        return None

    def run(self, facts: Facts) -> list[CheckResult]:
        """Warn above health.outbox_warning_percent, critical from ..._critical_percent."""
        fill = facts.outbox
        health = facts.config.health
        percent = fill.ratio * 100
        data = {"reports": fill.rows, "bytes": fill.bytes, "fill_percent": round(percent, 1)}
        if percent >= health.outbox_critical_percent:
            reason = _reason(
                fill, percent, "full, nvr-uplink drops the least important reports first"
            )
            return [CheckResult(self.name, Severity.CRITICAL, reason, data)]
        if percent > health.outbox_warning_percent:
            reason = _reason(
                fill, percent, "filling up: a destination is not taking reports (see uplink)"
            )
            return [CheckResult(self.name, Severity.WARNING, reason, data)]
        return [CheckResult(self.name, Severity.OK, "", data)]
