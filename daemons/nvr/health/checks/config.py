"""The config file: rejected at a reload or refused at start (docs/design/health.md, inv. 9).

The daemons record every load in the state file (nvr.core.configloads); a broken file
the daemons rejected shows here, naming the file and the key, so the technician learns it
from /health, `nvrctl status` and the status page instead of from the next restart.
"""

from __future__ import annotations

from nvr.core.configloads import ConfigLoad, Outcome
from nvr.health.facts import Facts
from nvr.health.model import CheckResult, Severity


def refusal(facts: Facts, daemon: str) -> ConfigLoad | None:
    """The daemon's refusal to start, when that is its latest load."""
    load = facts.config_loads.get(daemon)
    return load if load is not None and load.outcome is Outcome.REFUSED else None


def _reason(failed: list[ConfigLoad]) -> str:
    """One line: the error (file: key: problem) and who kept what."""
    rejected = [f.daemon for f in failed if f.outcome is Outcome.REJECTED]
    refused = [f.daemon for f in failed if f.outcome is Outcome.REFUSED]
    parts = []
    if rejected:
        parts.append(f"{', '.join(rejected)} kept the previous config")
    if refused:
        parts.append(f"{', '.join(refused)} could not start")
    newest = max(failed, key=lambda f: f.at_ms)
    return (
        f"config invalid: {newest.error}; {'; '.join(parts)}"
        " (fix the file, then `nvrctl config apply`)"
    )


class ConfigCheck:
    """One result: whether every daemon runs on the file as it is."""

    name = "config"

    def applies(self, facts: Facts) -> str | None:
        """Once a daemon has recorded a load (every daemon does, from its first start)."""
        return None if facts.config_loads else "no daemon has recorded a config load yet"

    def run(self, facts: Facts) -> list[CheckResult]:
        """A warning while any daemon's latest load failed; recording goes on meanwhile."""
        loads = sorted(facts.config_loads.values(), key=lambda f: f.daemon)
        failed = [f for f in loads if f.outcome is not Outcome.ACCEPTED]
        data: dict[str, object] = {
            "daemons": {f.daemon: str(f.outcome) for f in loads},
            "sha256": sorted({f.sha256[:12] for f in loads if f.sha256}),
        }
        if not failed:
            return [CheckResult("config", Severity.OK, "", data)]
        data["error"] = max(failed, key=lambda f: f.at_ms).error
        return [CheckResult("config", Severity.WARNING, _reason(failed), data)]
