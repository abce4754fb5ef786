"""Bad arguments and bad files: one line naming the problem, exit 2 or 1, never a traceback."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from nvrtest.headoffice import (
    HEADOFFICE_BIN,
    OTHER_SECRET,
    SECRET,
    headoffice_argv,
    write_sites,
)

pytestmark = pytest.mark.timeout(60)

Case = Callable[[Path], tuple[list[str], int, str]]


def _argv(tmp: Path, sites: Path | None = None, database: Path | str | None = None) -> list[str]:
    return headoffice_argv("127.0.0.1:0", database or tmp / "ho.db", sites or write_sites(tmp))[1:]


def _sites_text(tmp: Path, text: str) -> Path:
    path = tmp / "bad-sites.yaml"
    path.write_text(text)
    return path


def no_arguments(tmp: Path) -> tuple[list[str], int, str]:
    return [], 2, "required: --database, --sites"


def bad_listen(tmp: Path) -> tuple[list[str], int, str]:
    argv = _argv(tmp)
    argv[argv.index("--listen") + 1] = "localhost"
    return argv, 2, "--listen 'localhost': expected HOST:PORT"


def missing_sites_file(tmp: Path) -> tuple[list[str], int, str]:
    path = tmp / "nowhere.yaml"
    return _argv(tmp, sites=path), 1, f"{path}: cannot read sites file: No such file"


def broken_yaml(tmp: Path) -> tuple[list[str], int, str]:
    path = _sites_text(tmp, "sites:\n  smg-01: {secret: [\n")
    return _argv(tmp, sites=path), 1, f"{path}: line "


def bad_site_id(tmp: Path) -> tuple[list[str], int, str]:
    path = _sites_text(tmp, f"sites:\n  'SMG 01': {{secret: {SECRET}}}\n")
    return _argv(tmp, sites=path), 1, "'SMG 01' is not a valid site id"


def misspelt_key_next_to_an_inline_secret(tmp: Path) -> tuple[list[str], int, str]:
    path = _sites_text(tmp, f"sites:\n  smg-02: {{secret: {OTHER_SECRET}, nmae: Yard}}\n")
    return _argv(tmp, sites=path), 1, "sites.smg-02.nmae: unknown key"


def unreadable_secret_file(tmp: Path) -> tuple[list[str], int, str]:
    path = _sites_text(tmp, f"sites:\n  smg-01: {{secret_file: {tmp}/missing.key}}\n")
    return _argv(tmp, sites=path), 1, f"secret_file: cannot read {tmp}/missing.key"


def no_sites(tmp: Path) -> tuple[list[str], int, str]:
    path = _sites_text(tmp, "sites: {}\n")
    return _argv(tmp, sites=path), 1, "sites: Dictionary should have at least 1 item"


def database_directory_missing(tmp: Path) -> tuple[list[str], int, str]:
    database = tmp / "absent" / "ho.db"
    return _argv(tmp, database=database), 1, f"directory {tmp}/absent does not exist"


def database_not_sqlite(tmp: Path) -> tuple[list[str], int, str]:
    database = tmp / "ho.db"
    database.write_bytes(b"this is not a database, just text " * 100)
    return _argv(tmp, database=database), 1, f"database {database}: file is not a database"


# A database URL's password must not reach the error line (nor anything else).
DB_PASSWORD = "pg-pw-5e0c1d"


def postgres_unreachable(tmp: Path) -> tuple[list[str], int, str]:
    with socket.socket() as sock:  # a port nothing listens on once closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"postgresql://nvr:{DB_PASSWORD}@127.0.0.1:{port}/reports"
    expected = f"--database postgresql://nvr:***@127.0.0.1:{port}/reports: cannot use"
    return _argv(tmp, database=url), 1, f"{expected} PostgreSQL at 127.0.0.1:{port}:"


def postgres_url_with_a_bad_port(tmp: Path) -> tuple[list[str], int, str]:
    url = f"postgresql://nvr:{DB_PASSWORD}@db.example:54x2/reports"
    return _argv(tmp, database=url), 1, "--database postgresql://nvr:***@db.example:54x2/reports:"


def database_url_of_another_engine(tmp: Path) -> tuple[list[str], int, str]:
    url = f"mysql://nvr:{DB_PASSWORD}@db.example/reports"
    return _argv(tmp, database=url), 1, "expected a path, sqlite:///PATH or postgresql://"


CASES: list[Case] = [
    no_arguments,
    bad_listen,
    missing_sites_file,
    broken_yaml,
    bad_site_id,
    misspelt_key_next_to_an_inline_secret,
    unreadable_secret_file,
    no_sites,
    database_directory_missing,
    database_not_sqlite,
    postgres_unreachable,
    postgres_url_with_a_bad_port,
    database_url_of_another_engine,
]


def run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [HEADOFFICE_BIN, *argv], capture_output=True, text=True, timeout=30, check=False
    )


def assert_one_line(result: subprocess.CompletedProcess[str], code: int, text: str) -> None:
    output = result.stdout + result.stderr
    assert result.returncode == code, output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, output
    assert lines[0].startswith("nvr-headoffice: error: ") and text in lines[0], lines[0]
    assert "Traceback" not in output
    assert SECRET not in output and OTHER_SECRET not in output and DB_PASSWORD not in output


@pytest.mark.parametrize("case", CASES, ids=[case.__name__ for case in CASES])
def test_bad_arguments_and_files_give_one_line(case: Case, tmp_path: Path) -> None:
    argv, code, text = case(tmp_path)
    assert_one_line(run(argv), code, text)


def test_a_busy_port_gives_one_line(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        argv = _argv(tmp_path)
        argv[argv.index("--listen") + 1] = f"127.0.0.1:{port}"
        assert_one_line(run(argv), 1, f"--listen 127.0.0.1:{port}: Address already in use")
