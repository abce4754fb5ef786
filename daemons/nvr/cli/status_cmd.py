"""`nvrctl status`: the technician's one screen, judged exactly as nvr-health's /health.

The verdict comes from the same code path as the endpoint: `Sources.report()` reads the
state file read-only (`facts.gather`) and runs the same registry of checks
(`checks.run_checks`), so the CLI and /health never disagree. `--json` prints the /health
body itself, from the same builder (`nvr.health.body`). Exit code 1 when anything is
critical (what makes /health answer 503), also when the state file cannot be read; 0
otherwise, warnings included.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
from collections.abc import Callable
from typing import Any, TextIO

from nvr.cli.options import add_command
from nvr.core.config import Config, load_config, resolve_path
from nvr.core.config.salvage import salvage_config, state_only_config
from nvr.core.errors import ConfigError
from nvr.core.heartbeats import livestream_in_use
from nvr.core.state import now_ms
from nvr.core.timeutil import format_local
from nvr.health.body import health_body, unavailable_body
from nvr.health.errors import HealthError
from nvr.health.model import CheckResult, HealthReport, Severity
from nvr.health.probes import ProbeBoard
from nvr.health.sources import Sources

EXIT_OK = 0
EXIT_CRITICAL = 1

_MARK = {Severity.OK: "ok", Severity.WARNING: "WARN", Severity.CRITICAL: "CRIT"}


def add_parser(subparsers: Any) -> None:
    """Register `status`."""
    status = add_command(
        subparsers,
        "status",
        "daemons, cameras, disk and uplink at a glance (exit 1 when critical)",
        show_status,
    )
    status.add_argument("--json", action="store_true", help="print the /health JSON body")


def show_status(args: argparse.Namespace) -> int:
    """Read the state file once, print the verdict, return 1 when something is critical.

    A broken config file does not cost the dashboard: the daemons run on the config they
    loaded, so the status is shown from the file with its invalid keys left out, under a
    first line that says the file is invalid and why.
    """
    path = resolve_path(args.config)
    try:
        config = load_config(path)
    except ConfigError as err:
        salvaged = salvage_config(path)
        config = salvaged[0] if salvaged is not None else state_only_config(path)
        return run_status(config, as_json=bool(args.json), out=sys.stdout, invalid=str(err))
    return run_status(config, as_json=bool(args.json), out=sys.stdout)


def run_status(
    config: Config,
    *,
    as_json: bool,
    out: TextIO,
    probes: ProbeBoard | None = None,
    clock: Callable[[], int] = now_ms,
    invalid: str | None = None,
) -> int:
    """The whole command with its inputs passed in (tests give a fixed clock).

    `invalid`: why the config file on disk does not load (then `config` is salvaged).
    """
    if invalid is not None and not as_json:
        out.write(f"config invalid: {invalid}\n  (the daemons run on the config they loaded)\n")
    board = probes or ProbeBoard()
    sources = Sources(config, board, clock=clock)
    try:
        # nvr-health probes on its tick; a one-shot command probes once, the same way.
        board.refresh(config, clock(), livestream_in_use=livestream_in_use(sources.connection()))
        _, report, skipped = sources.report()
    except (sqlite3.Error, HealthError) as err:
        if as_json:
            print(json.dumps(unavailable_body(err), indent=2), file=out)
        else:
            print(f"CRIT state: state file unreadable: {err}", file=out)
        return EXIT_CRITICAL
    if as_json:
        body = health_body(config, report, skipped)
        if invalid is not None:
            body["config_invalid"] = invalid
        print(json.dumps(body, indent=2), file=out)
    else:
        out.write(render_text(config, report))
    return EXIT_CRITICAL if report.http_status == 503 else EXIT_OK


def _ago(seconds: Any) -> str:
    if seconds is None:
        return "-"
    value = float(seconds)
    if value < 120:
        return f"{value:.0f} s ago"
    if value < 7200:
        return f"{value / 60:.0f} min ago"
    return f"{value / 3600:.1f} h ago"


def _daemon_line(result: CheckResult) -> str:
    data = result.data
    name = result.name.removeprefix("daemon:")
    beat = "never" if data.get("state") == "missing" else _ago(data.get("heartbeat_age_s"))
    unit = f" [{data['systemd']}]" if "systemd" in data else ""
    status = data.get("status_line", "")
    return f"{name:<16} {data.get('state', '?'):<9} beat {beat:<11}{unit} {status}".rstrip()


def _camera_line(result: CheckResult) -> str:
    data = result.data
    camera = result.name.removeprefix("camera:")
    label = f"{camera} ({data.get('camera_name', '')})"
    cause = f" ({data['cause']})" if "cause" in data else ""
    return (
        f"{label:<28} {data.get('recorder', '?') + cause:<10}"
        f" last segment {_ago(data.get('last_segment_age_s')):<11}"
        f" validation {data.get('validation', '-')}"
    )


def _disk_line(result: CheckResult) -> str:
    data = result.data
    parts = []
    if data.get("percent") is not None:
        parts.append(f"{float(data['percent']):.1f}% used")
        if data.get("free_bytes") is not None:
            parts.append(f"{int(data['free_bytes']) / 1e9:.1f} GB free")
    else:
        parts.append("usage unknown")
    if "headroom_hours" in data:
        parts.append(f"headroom {data['headroom_hours']} h")
    smart = data.get("smart") or {}
    if smart:
        parts.append(
            "SMART " + ", ".join(f"{dev} {'ok' if ok else 'FAILING'}" for dev, ok in smart.items())
        )
    return ", ".join(parts)


def _uplink_line(result: CheckResult) -> str:
    data = result.data
    name = result.name.removeprefix("uplink:")
    oldest = data.get("oldest_pending_age_s") or 0
    return (
        f"{name:<16} backlog {data.get('backlog', 0):<7} oldest pending"
        f" {_ago(oldest) if oldest else '-':<11} {data.get('circuit', '?')}"
    )


def _outbox_line(result: CheckResult) -> str:
    data = result.data
    return (
        f"{data.get('reports', 0)} reports waiting, {int(data.get('bytes', 0)) / 1e6:.1f} MB,"
        f" {data.get('fill_percent', 0)}% of the bound"
    )


_SECTIONS: tuple[tuple[str, str, Callable[[CheckResult], str]], ...] = (
    ("DAEMONS", "daemon:", _daemon_line),
    ("CONFIG", "config", lambda r: r.reason or f"loaded by {len(r.data['daemons'])} daemons"),
    ("CAMERAS", "camera:", _camera_line),
    ("DISK", "disk", _disk_line),
    ("UPLINK", "uplink:", _uplink_line),
    ("OUTBOX", "outbox", _outbox_line),
    ("MEDIAMTX", "mediamtx", lambda r: r.reason or "API answers"),
    ("CLOCK", "clock", lambda r: r.reason or f"{r.data['state']} ({r.data['detail']})"),
)


def render_text(config: Config, report: HealthReport) -> str:
    """One screen: a headline, a section per kind of check, then what is wrong and why."""
    lines = [
        f"NVR {config.site.id} ({config.site.name}): {str(report.overall).upper()}"
        f"  at {format_local(report.checked_at_ms)}",
    ]
    for title, prefix, line in _SECTIONS:
        results = [r for r in report.results if r.name.startswith(prefix)]
        if not results:
            continue
        lines.append("")
        lines.append(title)
        lines.extend(f"  {_MARK[r.severity]:<4} {line(r)}" for r in results)
    failing = report.failing()
    if failing:
        lines.append("")
        lines.append("PROBLEMS")
        lines.extend(f"  {_MARK[r.severity]:<4} {r.name}: {r.reason}" for r in failing)
    return "\n".join(lines) + "\n"
