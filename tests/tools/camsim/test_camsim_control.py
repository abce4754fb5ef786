"""The run-dir files: private, atomic, validated; passwords kept across restarts."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from nvr_camsim import CamsimError, Fault
from nvr_camsim.control import parse_faults, saved_passwords, write_private_json


def test_private_json_is_owner_only_and_leaves_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "cameras.json"
    write_private_json(target, {"a": 1})
    write_private_json(target, {"a": 2})
    assert json.loads(target.read_text()) == {"a": 2}
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["cameras.json"]


def test_passwords_of_an_earlier_run_are_reused(tmp_path: Path) -> None:
    document = {"cameras": [{"id": "cam01", "url": "rtsp://admin:Xy_9-k@127.0.0.1:8554/cam01"}]}
    (tmp_path / "cameras.json").write_text(json.dumps(document))
    assert saved_passwords(tmp_path) == {"cam01": "Xy_9-k"}
    (tmp_path / "cameras.json").write_text("{not json")
    assert saved_passwords(tmp_path) == {}


def test_faults_file_is_validated(tmp_path: Path) -> None:
    source = tmp_path / "faults.json"
    assert parse_faults({"cam01": None, "cam02": "frozen"}, source) == {
        "cam01": None,
        "cam02": Fault.FROZEN,
    }
    with pytest.raises(CamsimError, match="cam02: unknown fault 'melted'"):
        parse_faults({"cam02": "melted"}, source)
    with pytest.raises(CamsimError, match="expected an object"):
        parse_faults(["cam01"], source)
