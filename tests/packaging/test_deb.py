"""The .deb of `make deb`: lintian-clean, the right files, and a venv that installs offline.

The package is built once per module with packaging/deb/build.sh (dependency wheels are
cached in ~/.cache/nvr-dev/wheels, so a rebuild takes seconds). Nothing is installed on
this machine: the maintainer scripts would create users and enable units for real.
Instead the .deb is unpacked into a temp dir and its make-venv.sh, which postinst runs,
builds a virtualenv from the shipped wheels there.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(300)

REPO = Path(__file__).resolve().parents[2]
DEB_DIR = REPO / "packaging" / "deb"
VERSION = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
DAEMONS = ("backup", "hddmon", "validator", "livestream", "report", "health", "uplink")
CONFFILES = {
    "/etc/nvr/nvr.yaml",
    "/etc/mediamtx/mediamtx.yml",
    "/etc/syslog-ng/conf.d/nvr.conf",
    "/etc/syslog-ng/nvr/site.conf",
    "/etc/logrotate.d/nvr",
}


def tool(name: str, package: str) -> str:
    path = shutil.which(name)
    assert path, f"{name} not found (Debian package {package}; run `make apt`)"
    return path


def run(*args: str, **kwargs: object) -> str:
    result = subprocess.run(args, capture_output=True, text=True, check=False, **kwargs)  # type: ignore[call-overload]
    assert result.returncode == 0, f"{args} failed:\n{result.stdout}\n{result.stderr}"
    return str(result.stdout)


@pytest.fixture(scope="module")
def deb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("deb")
    printed = run("bash", str(DEB_DIR / "build.sh"), str(out)).strip().splitlines()[-1]
    path = Path(printed)
    assert path.is_file() and path.parent == out, printed
    return path


@pytest.fixture(scope="module")
def unpacked(deb: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("unpacked")
    run(tool("dpkg-deb", "dpkg"), "-x", str(deb), str(root))
    return root


def field(deb: Path, name: str) -> str:
    return run(tool("dpkg-deb", "dpkg"), "-f", str(deb), name).strip()


def test_lintian_reports_no_error_or_warning_beyond_the_justified_overrides(deb: Path) -> None:
    lintian = tool("lintian", "lintian")
    result = subprocess.run(
        [lintian, "--info", "--tag-display-limit", "0", str(deb)],
        capture_output=True,
        text=True,
        check=False,
    )
    tags = [line for line in result.stdout.splitlines() if re.match(r"^[A-Z]: ", line)]
    bad = [t for t in tags if t.startswith(("E: ", "W: "))]
    stale = [t for t in tags if "unused-override" in t or "mismatched-override" in t]
    assert not bad, "lintian:\n" + "\n".join(bad)
    assert not stale, "overrides that match nothing:\n" + "\n".join(stale)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_override_is_justified_by_a_comment() -> None:
    lines = (DEB_DIR / "lintian-overrides").read_text().splitlines()
    overrides = [i for i, line in enumerate(lines) if line.startswith("nvr: ")]
    assert overrides
    for i in overrides:
        assert i > 0 and lines[i - 1].startswith("#"), f"no justification above: {lines[i]}"


def test_control_fields(deb: Path) -> None:
    assert field(deb, "Package") == "nvr"
    assert field(deb, "Version") == f"{VERSION}-1"
    assert field(deb, "Architecture") == run(tool("dpkg", "dpkg"), "--print-architecture").strip()
    depends = field(deb, "Depends")
    for dep in ("python3 (>= 3.11)", "python3-venv", "ffmpeg", "adduser", "smartmontools"):
        assert dep in depends
    # ffmpeg-rec's libraries, as dpkg-shlibdeps found them (libc and OpenSSL).
    assert re.search(r"libc6 \(>= [\d.]+\)", depends), depends
    assert re.search(r"libssl3 \(>= [\d.]+\)", depends), depends


def test_ffmpeg_rec_ships_with_its_licence_source_and_unit_setting(unpacked: Path) -> None:
    """nvr-backup records with the package's own recording-only ffmpeg (issue 17)."""
    binary = unpacked / "usr/lib/nvr/ffmpeg-rec"
    assert binary.stat().st_mode & 0o777 == 0o755
    version = run(str(binary), "-hide_banner", "-version")
    assert "--disable-everything" in version and "--enable-version3" in version, version
    copyright_text = (unpacked / "usr/share/doc/nvr/copyright").read_text()
    entry = copyright_text.split("Files: usr/lib/nvr/ffmpeg-rec", 1)[1]
    assert "License: LGPL-3+" in entry
    debian_version = run(tool("dpkg-query", "dpkg"), "-W", "-f=${Version}", "ffmpeg").strip()
    assert f" {debian_version} (its upstream tarball" in entry, entry
    script = unpacked / "usr/share/doc/nvr/ffmpeg-rec/build-ffmpeg-rec.sh"
    assert script.read_bytes() == (REPO / "packaging/dev/build-ffmpeg-rec.sh").read_bytes()
    unit = (unpacked / "lib/systemd/system/nvr-backup.service").read_text()
    assert "Environment=NVR_FFMPEG_REC_BIN=/usr/lib/nvr/ffmpeg-rec" in unit.splitlines()


def test_contents_units_configs_and_wheels(deb: Path) -> None:
    listing = run(tool("dpkg-deb", "dpkg"), "-c", str(deb))
    files = {line.split()[-1].removeprefix(".") for line in listing.splitlines()}
    owners = {line.split()[1] for line in listing.splitlines()}
    assert owners == {"root/root"}
    for name in DAEMONS:
        assert f"/lib/systemd/system/nvr-{name}.service" in files
    assert "/lib/systemd/system/nvr.target" in files
    assert "/lib/systemd/system/mediamtx.service" in files
    assert files >= CONFFILES
    assert "/usr/share/nvr/prometheus/nvr-alerts.yml" in files
    assert "/usr/share/doc/nvr/operator-guide.md" in files
    assert "/usr/share/doc/nvr/examples/nvr.yaml" in files  # what config errors point at
    assert f"/opt/nvr/wheels/nvr-{VERSION}-py3-none-any.whl" in files
    assert any(f.startswith("/opt/nvr/wheels/opencv_python_headless-") for f in files)
    # The venv is built by postinst, never shipped; recordings are never in the package.
    assert not any(f.startswith(("/opt/nvr/venv", "/srv/")) for f in files)


TOOL_PACKAGES = ("nvr_camsim", "nvr_demo", "nvr_headoffice")
TOOL_SCRIPTS = ("nvr-camsim", "nvr-demo", "nvr-headoffice")


def test_box_wheel_holds_only_what_the_box_runs(unpacked: Path) -> None:
    """The simulator, the demo and head office's receiver are nvr-tools, never on the box."""
    wheel = unpacked / f"opt/nvr/wheels/nvr-{VERSION}-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        entry_points = archive.read(f"nvr-{VERSION}.dist-info/entry_points.txt").decode()
    assert {name.split("/")[0] for name in names} == {"nvr", f"nvr-{VERSION}.dist-info"}
    assert "nvr/cli/main.py" in names and "nvr/backup/recorder.py" in names
    for old in ("camsim", "demo", "headoffice"):
        assert not any(name.startswith(f"nvr/{old}/") for name in names), old
    assert not any(script in entry_points for script in TOOL_SCRIPTS), entry_points
    assert not any(f.name.startswith("nvr_tools") for f in (unpacked / "opt/nvr/wheels").iterdir())


def test_no_box_module_imports_the_tools() -> None:
    """Every module of nvr (nvrctl included) imports, and none pulls in a tool package."""
    script = (
        "import pkgutil, sys, nvr\n"
        "for info in pkgutil.walk_packages(nvr.__path__, 'nvr.'):\n"
        "    __import__(info.name)\n"
        "import nvr.cli.main\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {TOOL_PACKAGES!r}))\n"
    )
    assert run(sys.executable, "-c", script).strip() == "[]"


def test_conffiles_and_maintainer_scripts(deb: Path, tmp_path: Path) -> None:
    control = tmp_path / "control"
    run(tool("dpkg-deb", "dpkg"), "-e", str(deb), str(control))
    assert set((control / "conffiles").read_text().split()) == CONFFILES
    postinst = (control / "postinst").read_text()
    assert "adduser --system --group --home /var/lib/nvr" in postinst
    assert "deb-systemd-helper enable nvr.target" in postinst
    assert f'make-venv.sh /opt/nvr/venv /opt/nvr/wheels "{VERSION}"' in postinst
    assert "/srv/nvr/recordings" in postinst
    assert "deb-systemd-invoke stop nvr.target" in (control / "prerm").read_text()
    postrm = (control / "postrm").read_text()
    assert "rm -rf /var/lib/nvr /var/log/nvr /etc/nvr/tls" in postrm
    assert "/srv" not in postrm.split("set -e", 1)[1], "purge must never delete recordings"
    for script in ("postinst", "prerm", "postrm"):
        run("sh", "-n", str(control / script))


def test_shipped_configs_are_the_repo_files(unpacked: Path) -> None:
    pairs = {
        "etc/nvr/nvr.yaml": "etc/nvr/nvr.yaml",
        "etc/syslog-ng/conf.d/nvr.conf": "syslog-ng/conf.d/nvr.conf",
        "etc/logrotate.d/nvr": "syslog-ng/logrotate.d/nvr",
        "lib/systemd/system/logrotate.timer.d/nvr-hourly.conf": (
            "syslog-ng/logrotate.timer.d/nvr-hourly.conf"
        ),
        "lib/systemd/system/nvr-health.service": "systemd/nvr-health.service",
    }
    for shipped, source in pairs.items():
        assert (unpacked / shipped).read_bytes() == (REPO / source).read_bytes(), shipped


def test_make_venv_installs_every_daemon_offline_from_the_shipped_wheels(
    unpacked: Path, tmp_path: Path
) -> None:
    python3 = Path("/usr/bin/python3")
    assert python3.exists(), "Debian's python3 is the interpreter postinst uses"
    venv = tmp_path / "venv"
    run(
        "sh",
        str(unpacked / "usr/share/nvr/make-venv.sh"),
        str(venv),
        str(unpacked / "opt/nvr/wheels"),
        VERSION,
        env={"PATH": "/usr/bin:/bin", "PYTHON3": str(python3)},
    )
    for name in (*(f"nvr-{d}" for d in DAEMONS), "nvrctl"):
        assert (venv / "bin" / name).is_file(), name
    assert "--config" in run(str(venv / "bin" / "nvr-health"), "--help")
    run(str(venv / "bin" / "python"), "-c", "import cv2, numpy, pydantic, nvr.backup.main")


# The maintainer scripts run with PATH holding only logging stubs: nothing touches this
# machine, and the log shows what they would do. Exit codes: the user and the statoverrides
# do not exist yet, and deb-systemd-helper says "was enabled" (its answer on a first install).
STUB_EXIT = {"getent": "exit 2", "dpkg-statoverride": '[ "$1" = --list ] && exit 1'}
STUBS = (
    "adduser",
    "install",
    "sh",
    "deb-systemd-helper",
    "deb-systemd-invoke",
    "systemctl",
    "getent",
    "dpkg-statoverride",
    "rm",
    "rmdir",
    "chown",
    "chmod",
)


def run_script(control: Path, tmp: Path, *args: str) -> list[str]:
    stubs = tmp / "stubs"
    stubs.mkdir(exist_ok=True)
    log = tmp / "calls.log"
    log.write_text("")
    for name in STUBS:
        stub = stubs / name
        stub.write_text(
            f'#!/bin/sh\necho "{name} $*" >> {log}\n{STUB_EXIT.get(name, ":")}\nexit 0\n'
        )
        stub.chmod(0o755)
    script = control / args[0]
    result = subprocess.run(
        ["/bin/sh", str(script), *args[1:]],
        env={"PATH": str(stubs)},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return log.read_text().splitlines()


def test_maintainer_scripts_create_user_venv_and_enable_target_and_keep_recordings(
    deb: Path, tmp_path: Path
) -> None:
    assert not Path("/run/systemd/system").exists(), "this check assumes no running systemd"
    control = tmp_path / "control"
    run(tool("dpkg-deb", "dpkg"), "-e", str(deb), str(control))
    calls = run_script(control, tmp_path, "postinst", "configure")
    assert calls[0] == "getent passwd nvr"
    assert calls[1].startswith("adduser --system --group --home /var/lib/nvr")
    assert "dpkg-statoverride --update --add root nvr 0640 /etc/nvr/nvr.yaml" in calls
    assert "install -d -o nvr -g nvr -m 0750 /srv/nvr/recordings" in calls
    # Issue 18: the logs directory is root's; nothing hands it to nvr.
    assert "install -d -o root -g adm -m 0750 /var/log/nvr" in calls
    assert not any("nvr" in c.split()[1:-1] and c.endswith("/var/log/nvr") for c in calls)
    assert f"sh /usr/share/nvr/make-venv.sh /opt/nvr/venv /opt/nvr/wheels {VERSION}" in calls
    assert "deb-systemd-helper enable nvr.target" in calls
    assert not any(c.startswith(("systemctl", "deb-systemd-invoke")) for c in calls)

    assert "rm -rf /opt/nvr/venv" in run_script(control, tmp_path, "prerm", "remove")
    assert not any(c.startswith("rm") for c in run_script(control, tmp_path, "prerm", "upgrade"))
    purge = run_script(control, tmp_path, "postrm", "purge")
    assert "rm -rf /var/lib/nvr /var/log/nvr /etc/nvr/tls" in purge
    assert "deb-systemd-helper purge nvr.target" in purge
    assert not any("/srv" in c or c.startswith("deluser") for c in purge)
