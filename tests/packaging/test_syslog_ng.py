"""The shipped syslog-ng config, run for real: per-daemon files and a TLS collector.

Two syslog-ng processes in the foreground, each with a config this test writes:
- the appliance: `s_src` is a unix-dgram socket of the test (in place of Debian's
  system()/journald source), then the shipped conf.d/nvr.conf is @included unchanged; its
  own `@include "nvr/site.conf"` finds a site.conf the test writes (include-path points at
  the test's directory) with loopback ports, test certificates and temp directories;
- head office's collector: a TLS syslog() source writing everything to one file.
Certificates come from the openssl CLI. Waiting is "until the line appears", with a
deadline; nothing asserts on how long it took.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from nvrtest.box import free_port

pytestmark = pytest.mark.timeout(60)

REPO = Path(__file__).resolve().parents[2]
NVR_CONF = REPO / "syslog-ng" / "conf.d" / "nvr.conf"
SITE_CONF = REPO / "syslog-ng" / "nvr" / "site.conf"
HEADOFFICE_CONF = REPO / "syslog-ng" / "headoffice.conf"
LOGROTATE = REPO / "syslog-ng" / "logrotate.d" / "nvr"
DEADLINE_SECONDS = 20.0


def tool(name: str) -> str:
    path = shutil.which(name) or (
        f"/usr/sbin/{name}" if Path(f"/usr/sbin/{name}").exists() else None
    )
    assert path, f"{name} not found"
    return path


def openssl(*args: str) -> None:
    subprocess.run([tool("openssl"), *args], check=True, capture_output=True, timeout=30)


def make_certs(top: Path) -> Path:
    """A CA, a server certificate for 127.0.0.1 and a client certificate."""
    pki = top / "pki"
    pki.mkdir()
    openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=test CA",
        "-keyout", str(pki / "ca.key"), "-out", str(pki / "ca.crt"),
    )  # fmt: skip
    for name, san in (("server", "IP:127.0.0.1,DNS:localhost"), ("client", "DNS:nvr-box")):
        (pki / f"{name}.ext").write_text(f"subjectAltName={san}\n")
        openssl(
            "req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}",
            "-keyout", str(pki / f"{name}.key"), "-out", str(pki / f"{name}.csr"),
        )  # fmt: skip
        openssl(
            "x509", "-req", "-in", str(pki / f"{name}.csr"), "-CA", str(pki / "ca.crt"),
            "-CAkey", str(pki / "ca.key"), "-CAcreateserial", "-days", "2",
            "-extfile", str(pki / f"{name}.ext"), "-out", str(pki / f"{name}.crt"),
        )  # fmt: skip
    return pki


def shipped_defines() -> set[str]:
    return set(re.findall(r"^@define (\w+) ", SITE_CONF.read_text(), re.MULTILINE))


def write_site(etc: Path, values: dict[str, str]) -> None:
    # The test's site.conf must set every setting the shipped one sets, and nothing else.
    assert set(values) == shipped_defines()
    (etc / "nvr").mkdir(parents=True, exist_ok=True)
    lines = [f'@define {key} "{value}"' for key, value in values.items()]
    (etc / "nvr" / "site.conf").write_text("\n".join(lines) + "\n")


class SyslogNg:
    """One syslog-ng in the foreground with its own persist file, pid file and socket."""

    def __init__(self, workdir: Path, config: str) -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.conf = workdir / "syslog-ng.conf"
        self.conf.write_text(config)
        self.proc: subprocess.Popen[bytes] | None = None

    def check(self) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [tool("syslog-ng"), "--syntax-only", "-f", str(self.conf)],
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip

    def start(self) -> None:
        done = self.check()
        assert done.returncode == 0, done.stderr
        with (self.workdir / "stderr").open("ab") as stderr:
            self.proc = subprocess.Popen(
                [
                    tool("syslog-ng"), "-F", "--no-caps", "-f", str(self.conf),
                    "-R", str(self.workdir / "persist"), "-p", str(self.workdir / "pid"),
                    "-c", str(self.workdir / "ctl"),
                ],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=stderr, start_new_session=True,
            )  # fmt: skip

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
        self.proc = None


def wait_for(path: Path, needle: str, ng: SyslogNg) -> str:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while time.monotonic() < deadline:
        text = path.read_text(errors="replace") if path.exists() else ""
        if needle in text:
            return text
        assert ng.proc is None or ng.proc.poll() is None, (ng.workdir / "stderr").read_text()
        time.sleep(0.1)
    stderr = (ng.workdir / "stderr").read_text()
    raise AssertionError(f"{needle!r} never reached {path}; syslog-ng said: {stderr}")


def listening(port: int, ng: SyslogNg) -> None:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while time.monotonic() < deadline:
        assert ng.proc is not None and ng.proc.poll() is None, (ng.workdir / "stderr").read_text()
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise AssertionError(f"collector never listened on {port}")


@dataclass
class Pipeline:
    box: SyslogNg
    collector: SyslogNg
    port: int
    sock_path: Path
    log_dir: Path
    collected: Path

    def send(self, program: str, message: str, priority: int = 30) -> None:
        line = f"<{priority}>Jan  1 00:00:00 {program}[4242]: {message}"  # as libc sends it
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.sendto(line.encode(), str(self.sock_path))

    def send_journal(self, **fields: str) -> None:
        """A line as journald hands it over, with its fields (nvr.core.logfields)."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.sendto(json.dumps(fields).encode(), f"{self.sock_path}.journal")

    def start_collector(self) -> None:
        self.collector.start()
        listening(self.port, self.collector)


@pytest.fixture
def pipeline(tmp_path: Path) -> Iterator[Pipeline]:
    pki = make_certs(tmp_path)
    port = free_port()
    sock_path = tmp_path / "box" / "log.sock"
    etc = tmp_path / "box" / "etc"
    write_site(
        etc,
        {
            "nvr_collector_host": "127.0.0.1",
            "nvr_collector_port": str(port),
            "nvr_tls_ca": str(pki / "ca.crt"),
            "nvr_tls_cert": str(pki / "client.crt"),
            "nvr_tls_key": str(pki / "client.key"),
            "nvr_time_reopen": "1",
            "nvr_log_dir": str(tmp_path / "var-log-nvr"),
            "nvr_buffer_dir": str(tmp_path / "buffer"),
        },
    )
    (tmp_path / "buffer").mkdir()
    # The forward to head office, enabled as the operator guide says (a link in nvr/forward/).
    (etc / "nvr" / "forward").mkdir()
    (etc / "nvr" / "forward" / "headoffice.conf").symlink_to(HEADOFFICE_CONF)
    box = SyslogNg(
        tmp_path / "box",
        "@version: 3.38\n"
        f'@define include-path "{etc}"\n'
        "options { stats_freq(0); };\n"
        # The second driver plays journald: a JSON object of journal fields per datagram,
        # mapped the way syslog-ng's systemd-journal() source maps them (.journald.*).
        f'source s_src {{ unix-dgram("{sock_path}");\n'
        f'  channel {{ source {{ unix-dgram("{sock_path}.journal"\n'
        '    flags(no-parse) persist-name("journal-emulation")); };\n'
        '    parser { json-parser(prefix(".journald.")); };\n'
        '    rewrite { set("${.journald.SYSLOG_IDENTIFIER}" value("PROGRAM"));\n'
        '              set("${.journald.MESSAGE}" value("MESSAGE")); }; }; };\n'
        f'@include "{NVR_CONF}"\n',
    )
    collected = tmp_path / "collector" / "all.log"
    collector = SyslogNg(
        tmp_path / "collector",
        "@version: 3.38\n"
        "options { stats_freq(0); };\n"
        f'source s_tls {{ syslog(ip("127.0.0.1") port({port}) transport("tls")\n'
        f'  tls(key-file("{pki / "server.key"}") cert-file("{pki / "server.crt"}")\n'
        f'      ca-file("{pki / "ca.crt"}") peer-verify(required-trusted))); }};\n'
        f'destination d_all {{ file("{collected}"\n'
        '  template("${PROGRAM}: ${MSGONLY} ${SDATA}\\n")); };\n'
        "log { source(s_tls); destination(d_all); };\n",
    )
    made = Pipeline(box, collector, port, sock_path, tmp_path / "var-log-nvr", collected)
    try:
        yield made
    finally:
        box.stop()
        collector.stop()


def start_box(p: Pipeline) -> None:
    p.box.start()
    deadline = time.monotonic() + DEADLINE_SECONDS
    while not p.sock_path.exists():
        assert time.monotonic() < deadline, "appliance syslog-ng never opened its socket"
        assert p.box.proc is not None and p.box.proc.poll() is None, (
            p.box.workdir / "stderr"
        ).read_text()
        time.sleep(0.05)


def test_shipped_config_passes_syntax_check_with_a_system_source(pipeline: Pipeline) -> None:
    done = pipeline.box.check()
    assert (done.returncode, done.stderr) == (0, "")


def test_daemon_lines_reach_their_own_file_and_head_office(pipeline: Pipeline) -> None:
    pipeline.start_collector()
    start_box(pipeline)
    pipeline.send("nvr-backup", "camera=cam03 ffmpeg exited: camera offline", priority=28)
    pipeline.send("nvr-uplink", "destination=head_office delivered 12 reports")
    pipeline.send("sshd", "Accepted publickey for root")
    backup = wait_for(pipeline.log_dir / "nvr-backup.log", "camera=cam03", pipeline.box)
    assert "nvr-backup[4242]: <warning> camera=cam03 ffmpeg exited: camera offline" in backup
    wait_for(pipeline.log_dir / "nvr-uplink.log", "delivered 12 reports", pipeline.box)
    collected = wait_for(pipeline.collected, "delivered 12 reports", pipeline.collector)
    assert "nvr-backup: camera=cam03 ffmpeg exited" in collected
    # Only NVR daemons are ours: other programs stay in the system's own logs.
    assert sorted(p.name for p in pipeline.log_dir.iterdir()) == [
        "nvr-backup.log",
        "nvr-uplink.log",
    ]
    assert "sshd" not in collected


def test_journal_fields_reach_head_office_as_structured_data(pipeline: Pipeline) -> None:
    pipeline.start_collector()
    start_box(pipeline)
    pipeline.send_journal(
        SYSLOG_IDENTIFIER="nvr-backup",
        MESSAGE="event camera_offline: camera=cam03 not answering",
        PRIORITY="4",
        NVR_DAEMON="nvr-backup",
        NVR_CAMERA="cam03",
        NVR_EVENT="camera_offline",
    )
    pipeline.send_journal(
        SYSLOG_IDENTIFIER="nvr-uplink", MESSAGE="delivered 3 reports", NVR_DAEMON="nvr-uplink"
    )
    collected = wait_for(pipeline.collected, "delivered 3 reports", pipeline.collector)
    offline = next(line for line in collected.splitlines() if "cam03" in line)
    assert '[nvr@32473 daemon="nvr-backup" camera="cam03" event="camera_offline"]' in offline
    uplink = next(line for line in collected.splitlines() if "delivered 3" in line)
    assert '[nvr@32473 daemon="nvr-uplink"]' in uplink and "camera=" not in uplink
    wait_for(pipeline.log_dir / "nvr-backup.log", "camera=cam03 not answering", pipeline.box)


def test_lines_written_while_head_office_is_down_arrive_when_it_returns(
    pipeline: Pipeline,
) -> None:
    start_box(pipeline)  # the collector is down
    for n in range(20):
        pipeline.send("nvr-report", f"outage line {n:02d}")
    wait_for(pipeline.log_dir / "nvr-report.log", "outage line 19", pipeline.box)
    assert not pipeline.collected.exists()
    pipeline.start_collector()
    collected = wait_for(pipeline.collected, "outage line 19", pipeline.collector)
    assert [f"outage line {n:02d}" in collected for n in range(20)] == [True] * 20


def test_logrotate_config_parses_and_rotates_the_per_daemon_files(tmp_path: Path) -> None:
    logs = tmp_path / "var-log-nvr"
    logs.mkdir()
    (logs / "nvr-backup.log").write_text("x\n")
    conf = tmp_path / "nvr"
    text = LOGROTATE.read_text().replace("/var/log/nvr", str(logs))
    conf.write_text(text.replace("invoke-rc.d syslog-ng reload", "true"))
    done = subprocess.run(
        [tool("logrotate"), "--force", "--state", str(tmp_path / "state"), str(conf)],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert (done.returncode, done.stderr) == (0, "")
    (rotated,) = logs.glob("nvr-backup.log-*")  # dateext: -YYYYMMDD-<epoch seconds>
    assert rotated.read_text() == "x\n"
