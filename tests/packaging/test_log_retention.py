"""Log retention with the shipped syslog-ng and logrotate configs: a daemon logging in a
loop cannot fill the disk, rotated files turn compressed after 7 days and go after 30
(issue 21). syslog-ng runs for real (the pipeline of test_syslog_ng); logrotate runs as
the hourly timer would, only more often, with the size cap scaled down."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_syslog_ng import LOGROTATE, Pipeline, pipeline, start_box, tool, wait_for

__all__ = ["pipeline"]  # the fixture, shared with test_syslog_ng

pytestmark = pytest.mark.timeout(120)

FILE_CAP = "256k"  # maxsize 50M in the shipped file
DAEMON_CAP_BYTES = 3 << 20  # 500 MiB in the shipped file
STORM_SECONDS = 6.0
DAY = 86_400

STORM = """
import logging, logging.handlers, sys
handler = logging.handlers.SysLogHandler(address=sys.argv[1])
handler.ident = "nvr-backup[4242]: "
log = logging.getLogger("nvr.backup.recorder")
log.addHandler(handler)
i = 0
while True:
    i += 1
    log.warning("camera=cam01 storm line %d %s", i, "x" * 200)
"""


def scaled_config(tmp: Path, logs: Path, ctl: Path) -> Path:
    text = LOGROTATE.read_text().replace("/var/log/nvr", str(logs))
    text = text.replace("maxsize 50M", f"maxsize {FILE_CAP}")
    text = text.replace("524288000", str(DAEMON_CAP_BYTES))
    text = text.replace("invoke-rc.d syslog-ng reload", f"{tool('syslog-ng-ctl')} reload -c {ctl}")
    conf = tmp / "logrotate-nvr"
    conf.write_text(text)
    return conf


def logrotate(conf: Path, state: Path) -> None:
    done = subprocess.run(
        [tool("logrotate"), "--state", str(state), str(conf)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert (done.returncode, done.stderr) == (0, "")


def rotated(logs: Path) -> list[Path]:
    return sorted(logs.glob("nvr-backup.log-*"))


def test_a_log_storm_is_capped_and_old_files_are_compressed_then_removed(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    logs = pipeline.log_dir
    pipeline.start_collector()  # else the storm piles up in the disk buffer
    start_box(pipeline)
    pipeline.send("nvr-backup", "before the storm")
    wait_for(logs / "nvr-backup.log", "before the storm", pipeline.box)
    conf = scaled_config(tmp_path, logs, pipeline.box.workdir / "ctl")
    state = tmp_path / "logrotate.state"
    storm = subprocess.Popen(
        [sys.executable, "-c", STORM, str(pipeline.sock_path)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + STORM_SECONDS
        while time.monotonic() < deadline:
            time.sleep(1.1)  # dateext names carry the second: one rotation per second
            logrotate(conf, state)
    finally:
        storm.kill()
        storm.wait()
    logrotate(conf, state)
    kept = sum(p.stat().st_size for p in rotated(logs))
    # Head office's copy holds every line: what the storm wrote in all.
    stormed = pipeline.collected.stat().st_size
    assert kept <= DAEMON_CAP_BYTES, f"rotated files hold {kept} bytes"
    # The storm wrote more than the cap; the box kept less than it wrote: rotated files
    # went (oldest first, or all of them when each alone is past the cap).
    on_box = kept + (logs / "nvr-backup.log").stat().st_size
    assert stormed > DAEMON_CAP_BYTES and on_box < stormed, (stormed, on_box)
    assert on_box <= DAEMON_CAP_BYTES + stormed / 2, "the live file was never rotated"

    # Age (another daemon, far from its size cap): a week-old rotated file is compressed,
    # a month-old one removed.
    week_old = logs / "nvr-report.log-20261101-1"
    month_old = logs / "nvr-report.log-20261001-1"
    for path, days in ((week_old, 8), (month_old, 31)):
        path.write_text("old line\n")
        stamp = time.time() - days * DAY
        os.utime(path, (stamp, stamp))
    (logs / "nvr-backup.log").write_text("x" * 300_000)  # past the cap: a rotation runs
    time.sleep(1.1)
    logrotate(conf, state)
    assert not week_old.exists() and Path(f"{week_old}.gz").exists()
    assert not month_old.exists()
