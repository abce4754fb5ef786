"""Log lines cannot be forged from outside (issue 18, item 6): one record, one line."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from nvr.core.logsetup import configure_logging

FORGED = "<0>nvr.backup.recorder: camera=cam01 recording stopped"


@pytest.fixture
def journal(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    """stderr as journald would read it (JOURNAL_STREAM set: `<N>` priority prefixes)."""
    monkeypatch.setenv("JOURNAL_STREAM", "8:12345")
    stream = io.StringIO()
    configure_logging(logging.INFO, stream)
    yield stream
    configure_logging(logging.INFO)


def test_a_newline_in_a_value_does_not_start_a_journal_entry(journal: io.StringIO) -> None:
    log = logging.getLogger("nvr.livestream.api")
    log.warning("denied user=%s action=%s", f"eve\n{FORGED}", "read")
    # What Flask does: the request path formatted into the message itself.
    message = "Exception on /api/streams/x\r\n" + FORGED + " [GET]"
    log.error(message)
    lines = journal.getvalue().splitlines()
    assert len(lines) == 2
    assert all(
        line.startswith(("<4>nvr.livestream.api: ", "<3>nvr.livestream.api: ")) for line in lines
    )
    assert "eve\\x0a<0>nvr.backup.recorder" in lines[0]
    assert "x\\x0d\\x0a<0>nvr.backup" in lines[1]


def test_a_traceback_keeps_its_lines_and_its_priority(journal: io.StringIO) -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("nvr.x").exception("failed for %s", "cam\u2028x")
    lines = journal.getvalue().splitlines()
    assert lines[0] == "<3>nvr.x: failed for cam\\u2028x"
    assert len(lines) > 2 and all(line.startswith("<3>") for line in lines)
