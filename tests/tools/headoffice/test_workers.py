"""Several head-office processes behind one address on PostgreSQL (issue 22, scale-out).

`nvr-headoffice --workers 3` on a real PostgreSQL; a real nvr-uplink delivers a batch
while the test SIGKILLs the worker holding that request (found from pg_stat_activity,
where each worker names itself). Nothing is lost, nothing is stored twice, the parent
starts a new worker, and any worker answers for the reports any other one took.
"""

from __future__ import annotations

import os
import random
import re
import signal
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import psycopg
import pytest

from nvr.core.state import StateStore
from nvr.core.tables.outbox import append, append_report, dead_letters
from nvrtest import NvrDaemon, query_state, wait_until
from nvrtest.headoffice import (
    OTHER_SECRET,
    OTHER_SITE,
    SECRET,
    SITE,
    HeadOffice,
    envelope,
    reference_gaps,
    uplink_box_config,
)

pytestmark = pytest.mark.timeout(150)

WORKERS = 3
BATCH = 300
DB_PASSWORD = "db-pw-71c2e0"
WORKER_NAME = re.compile(r"nvr-headoffice worker (\d+) pid (\d+)")


def waiting_workers(url: str) -> set[int]:
    """The pids of the workers whose PostgreSQL session waits on a lock (holds a POST).

    A killed worker's session stays, waiting, until the lock is free: PostgreSQL only
    notices the dead client when it next writes to it.
    """
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT application_name FROM pg_stat_activity"
            " WHERE wait_event_type = 'Lock' AND application_name LIKE 'nvr-headoffice worker %'"
        ).fetchall()
    return {int(match.group(2)) for (name,) in rows if (match := WORKER_NAME.fullmatch(name))}


def test_a_worker_killed_mid_batch_loses_nothing_and_stores_nothing_twice(
    tmp_path: Path, start_headoffice: Callable[..., HeadOffice], postgres_url: str
) -> None:
    # A password in the URL (the test server trusts loopback, so it is not checked) must
    # not reach the log.
    with_password = postgres_url.replace("postgres@", f"postgres:{DB_PASSWORD}@", 1)
    headoffice = start_headoffice(database=with_password, workers=WORKERS)
    wait_until(
        lambda: headoffice.log().count("serving (pid") >= WORKERS, 30, "three workers serving"
    )
    (tmp_path / "box").mkdir()
    config = uplink_box_config(tmp_path / "box", headoffice.reports_url)
    state_file = tmp_path / "box" / "state" / "state.db"
    with StateStore.open(state_file) as store:
        append_report(store, SITE, "event", {"event": "first"})
    uplink = NvrDaemon("nvr.uplink.main", config)
    holder = psycopg.connect(postgres_url)
    try:
        wait_until(lambda: headoffice.site()["reports"] == 1, 30, "the box's first report")
        # Hold the site's row: the worker taking the batch waits on it, mid-request.
        holder.execute("SELECT 1 FROM sites WHERE site_id = %s FOR UPDATE", (SITE,))
        with StateStore.open(state_file) as store, store.write() as conn:
            for n in range(BATCH):  # one transaction: the uplink sends them as one batch
                append(conn, SITE, "event", {"event": "tick", "n": n})
        (victim,) = wait_until(
            lambda: waiting_workers(postgres_url), 30, "a worker holding the batch"
        )
        os.kill(victim, signal.SIGKILL)
        wait_until(
            lambda: f"(pid {victim}) killed by SIGKILL: restarting it" in headoffice.log(),
            20,
            "the parent noticing the dead worker",
        )
        # The uplink's POST failed with the worker: it re-sends to another one.
        wait_until(
            lambda: waiting_workers(postgres_url) - {victim},
            30,
            "the batch re-sent to another worker",
        )
        holder.rollback()
        last_seq = query_state(state_file, "SELECT last_seq FROM outbox_seq")[0][0]
        site = wait_until(
            lambda: (s := headoffice.site())["last_seq"] >= last_seq and s, 60, "every report"
        )
    finally:
        holder.close()
        assert uplink.stop() == 0
    assert SECRET not in uplink.log() and "Traceback" not in uplink.log()

    # Nothing lost, nothing stored twice: every seq once, by the database itself.
    assert (site["reports"], site["first_seq"], site["missing"]) == (last_seq, 1, 0)
    with psycopg.connect(postgres_url) as conn:
        count, distinct = conn.execute(
            "SELECT count(*), count(DISTINCT seq) FROM reports WHERE site_id = %s", (SITE,)
        ).fetchone() or (0, 0)
    assert count == distinct == last_seq
    with StateStore.open(state_file) as store:
        assert dead_letters(store.read()) == []
    # The parent replaced the dead worker: three again, none of them the victim.
    assert headoffice.proc is not None
    children = psutil.Process(headoffice.proc.pid).children()
    assert len(children) == WORKERS and victim not in {c.pid for c in children}
    # Any worker answers for what another stored (one database): ask several times.
    for _ in range(2 * WORKERS):
        assert headoffice.site()["reports"] == last_seq

    # Concurrent batches of one site, interleaved, on every worker at once: each seq placed
    # once and the gaps exactly the seqs never sent (the site's row is locked, invariant 9).
    sent = sorted(random.Random(22).sample(range(1, 2_001), 600))
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(
            pool.map(
                lambda part: headoffice.post(
                    [envelope(seq, site=OTHER_SITE) for seq in part],
                    site=OTHER_SITE,
                    secret=OTHER_SECRET,
                ),
                [sent[i::24] for i in range(24)],
            )
        )
    assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
    other = headoffice.site(OTHER_SITE)
    expected = reference_gaps(set(sent))
    assert (other["reports"], other["first_seq"], other["last_seq"]) == (600, sent[0], sent[-1])
    assert other["missing"] == sum(b - a + 1 for a, b in expected)
    assert other["gaps"] == expected[:100] and other["seq_reused"] == 0
    log = headoffice.log()
    assert DB_PASSWORD not in log and "database postgresql://postgres:***@127.0.0.1:" in log
