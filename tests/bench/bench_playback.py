"""Benchmark of playback (`make bench`): time to first byte, CPU of concurrent streams.

    .venv/bin/python tests/bench/bench_playback.py [--segments N] [--cameras C] [--seconds S]

1. Time to first byte of a 1-hour `GET /get` (fMP4) with an index of N segments (default
   1,000,000) for the camera: the rows are synthetic (60 s each, ~1.9 years), pointing in
   turn at 6 real 10 s fMP4 files made by ffmpeg here; nvr-livestream runs as a real
   subprocess. Baseline from the same run: ffmpeg alone, given the same concat list on
   stdin, to its first byte on a pipe (what the HTTP server, login and index add on top).
2. CPU of 8 concurrent playback streams at 4 Mbit/s while C cameras (default 32) record:
   camsim publishes C cameras at 4 Mbit/s, real nvr-backup records them in 10 s segments;
   after a minute of recording, 8 clients play the recorded minute through HLS (playlist,
   then each fragment's byte range fetched when the player would need it) for S seconds,
   then 8 clients read `/get` at 4 Mbit/s. CPU is nvr-livestream's and its ffmpeg
   children's (psutil), in percent of one core; baseline: the same process idle over the
   same time. Recording gaps: coverage of every camera over the whole run (the segment
   in progress at the end does not count).

Writes tests/bench/results/playback.json and playback.md.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import http.client
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
import yaml

from nvr.camsim import CameraSimulator
from nvr.camsim.mediamtx import free_port
from nvr.core.passwords import hash_password
from nvr.core.recordings import GAP_IN_PROGRESS, coverage, list_segments
from nvr.core.state import StateStore, now_ms
from nvr.core.timeutil import format_ms
from nvr.core.tools import require_tool
from nvr.livestream.clip import concat_list, ffmpeg_argv, plan_clip

RESULTS = Path(__file__).with_name("results")
USER, PASSWORD = "bench", "bench-viewer-password-1"
REAL_FILES = 6
STREAMS = 8
STREAM_BPS = 4_000_000
TTFB_SAMPLES = 20
RECORD_SEGMENT_SECONDS = 10
WARMUP_RECORDING_SECONDS = 60
# Bytes the clients received in the current phase: proof the streams really flowed.
DELIVERED: list[int] = []


def auth_header() -> dict[str, str]:
    """HTTP basic for the bench viewer."""
    token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def write_config(root: Path, port: int, cameras: dict[str, str]) -> Path:
    """One config for nvr-backup and nvr-livestream (mediamtx's API left unanswered)."""
    data = {
        "site": {"id": "bench"},
        "storage": {"recordings_dir": str(root / "rec"), "state_file": str(root / "state.db")},
        "recording": {"segment_seconds": RECORD_SEGMENT_SECONDS},
        "livestream": {
            "listen": f"127.0.0.1:{port}",
            "mediamtx_api": f"http://127.0.0.1:{free_port()}",
            "public_host": "127.0.0.1",
            "viewers": [{"user": USER, "password_hash": hash_password(PASSWORD), "cameras": "all"}],
        },
        "cameras": [{"id": cid, "url": url} for cid, url in cameras.items()],
    }
    (root / "rec").mkdir(exist_ok=True)
    path = root / "nvr.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def start_livestream(config: Path, port: int) -> subprocess.Popen[bytes]:
    """nvr-livestream as a subprocess, once its API answers."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "nvr.livestream.main", "--config", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/api/streams", headers=auth_header())
            conn.getresponse().read()
            return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("nvr-livestream did not answer")


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL after 30 s."""
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# -- part 1: time to first byte ----------------------------------------------------------
def make_files(directory: Path) -> list[Path]:
    """REAL_FILES fMP4 segments of 10 s, 1280x720 at ~4 Mbit/s, cut as nvr-backup cuts."""
    directory.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [require_tool("ffmpeg"), "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
         "-f", "lavfi", "-i", f"testsrc2=size=1280x720:rate=25:duration={REAL_FILES * 10}",
         "-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-b:v", "4M",
         "-pix_fmt", "yuv420p", "-f", "segment", "-segment_time", "10",
         "-reset_timestamps", "1", "-segment_format", "mp4", "-segment_format_options",
         "movflags=+frag_keyframe+empty_moov+default_base_moof", str(directory / "f%02d.mp4")],
        check=True,
    )  # fmt: skip
    return sorted(directory.glob("f*.mp4"))


def fill_index(store: StateStore, segments: int, end_ms: int) -> None:
    """`segments` rows of 60 s for cam01 ending at end_ms (paths unique, files not made)."""
    first = end_ms - segments * 60_000
    with store.write() as conn:
        conn.executemany(
            "INSERT INTO segments (camera, path, start_ms, end_ms, bytes, status,"
            " created_at_ms) VALUES ('cam01', ?, ?, ?, 5000000, 'ok', ?)",
            (
                (f"cam01/syn/{k:07d}.mp4", first + k * 60_000, first + (k + 1) * 60_000, end_ms)
                for k in range(segments)
            ),
        )


def link_files(store: StateStore, rec: Path, files: list[Path], from_ms: int, to_ms: int) -> None:
    """Give the rows of [from_ms, to_ms) files: symlinks to the real files in turn."""
    (rec / "cam01" / "syn").mkdir(parents=True, exist_ok=True)
    for k, seg in enumerate(list_segments(store.read(), "cam01", from_ms, to_ms)):
        link = rec / seg.path
        if not link.exists():
            link.symlink_to(files[k % len(files)])


def first_byte_ms(port: int, path: str) -> float:
    """Milliseconds from sending the request to the first byte of the body."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    began = time.perf_counter()
    conn.request("GET", path, headers=auth_header())
    answer = conn.getresponse()
    if answer.status != 200:
        raise SystemExit(f"GET {path}: {answer.status} {answer.read()[:200]!r}")
    answer.read(1)
    taken = (time.perf_counter() - began) * 1000
    conn.close()  # drops the rest: the server's ffmpeg is stopped
    return taken


def ffmpeg_first_byte_ms(store: StateStore, rec: Path, from_ms: int, to_ms: int) -> float:
    """Baseline: ffmpeg alone on the same concat list, to its first byte on stdout."""
    segments = list_segments(store.read(), "cam01", from_ms, to_ms)
    plan = plan_clip("cam01", segments, from_ms, to_ms)
    began = time.perf_counter()
    proc = subprocess.Popen(
        ffmpeg_argv(plan, "pipe:1", True), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(concat_list(rec, plan))
    proc.stdin.close()
    proc.stdout.read(1)
    taken = (time.perf_counter() - began) * 1000
    proc.kill()
    proc.wait()
    return taken


def bench_ttfb(root: Path, segments: int) -> dict[str, Any]:
    """Part 1."""
    rec = root / "rec"
    files = make_files(rec / "cam01" / "real")
    store = StateStore.open(root / "state.db")
    end_ms = now_ms() - 60_000
    began = time.monotonic()
    fill_index(store, segments, end_ms)
    fill_seconds = time.monotonic() - began
    starts = [end_ms - 3_600_000 - k * 7_200_000 for k in range(TTFB_SAMPLES)]
    for start in starts:
        link_files(store, rec, files, start, start + 3_600_000)
    port = free_port()
    proc = start_livestream(write_config(root, port, {"cam01": "rtsp://127.0.0.1:1/cam01"}), port)
    try:
        first_byte_ms(port, f"/get?path=cam01&start={format_ms(starts[0])}&duration=3600")
        served = [
            first_byte_ms(port, f"/get?path=cam01&start={format_ms(s)}&duration=3600")
            for s in starts
        ]
        alone = [ffmpeg_first_byte_ms(store, rec, s, s + 3_600_000) for s in starts]
    finally:
        stop(proc)
        store.close()
    return {
        "index_segments": segments,
        "index_fill_seconds": round(fill_seconds, 1),
        "real_files": REAL_FILES,
        "samples": TTFB_SAMPLES,
        "ttfb_median_ms": round(statistics.median(served), 1),
        "ttfb_p95_ms": round(sorted(served)[int(0.95 * len(served)) - 1], 1),
        "ttfb_max_ms": round(max(served), 1),
        "baseline_ffmpeg_alone_median_ms": round(statistics.median(alone), 1),
        "ratio_to_baseline": round(statistics.median(served) / statistics.median(alone), 2),
        "target_ttfb_ms": 300,
    }


# -- part 2: CPU of concurrent streams while cameras record -----------------------------
class Cpu:
    """CPU seconds of a process and its children (ffmpeg), sampled so exits are counted."""

    def __init__(self, pid: int) -> None:
        self._proc = psutil.Process(pid)
        self._done: dict[int, float] = {}
        self._lock = threading.Lock()

    def _sample(self) -> float:
        total = sum(self._proc.cpu_times()[:2])
        with self._lock:
            for child in self._proc.children(recursive=True):
                with contextlib.suppress(psutil.NoSuchProcess):
                    self._done[child.pid] = sum(child.cpu_times()[:2])
            return total + sum(self._done.values())

    def over(self, seconds: float, work: Callable[[threading.Event], None]) -> float:
        """Percent of one core used while `work` runs for `seconds`."""
        stop_event = threading.Event()
        threads = [threading.Thread(target=work, args=(stop_event,)) for _ in range(STREAMS)]
        before, began = self._sample(), time.monotonic()
        for thread in threads:
            thread.start()
        while time.monotonic() - began < seconds:
            self._sample()
            time.sleep(0.2)
        stop_event.set()
        for thread in threads:
            thread.join(60)
        return 100 * (self._sample() - before) / (time.monotonic() - began)


def hls_player(
    port: int, camera: str, from_ms: int, seconds: int
) -> Callable[[threading.Event], None]:
    """A client fetching the playlist, then each fragment when playback reaches it."""

    def play(stop_event: threading.Event) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        conn.request("GET", f"/hls/{camera}/index.m3u8?start={format_ms(from_ms)}"
                     f"&duration={seconds}", headers=auth_header())  # fmt: skip
        lines = conn.getresponse().read().decode().splitlines()
        began, played = time.monotonic(), 0.0
        for i, line in enumerate(lines):
            if stop_event.is_set():
                break
            if line.startswith("#EXTINF:"):
                length, offset = lines[i + 1].split(":")[1].split("@")
                wait = began + played - 2.0 - time.monotonic()  # a 2 s buffer ahead
                if wait > 0 and stop_event.wait(wait):
                    break
                ranged = {
                    **auth_header(),
                    "Range": f"bytes={offset}-{int(offset) + int(length) - 1}",
                }
                conn.request("GET", f"/hls/{camera}/{lines[i + 2]}", headers=ranged)
                answer = conn.getresponse()
                body = answer.read()
                DELIVERED.append(len(body) if answer.status == 206 else 0)
                played += float(line[8:].rstrip(","))
        conn.close()

    return play


def paced_reader(
    port: int, camera: str, from_ms: int, seconds: int
) -> Callable[[threading.Event], None]:
    """A client reading `/get` at STREAM_BPS, as a player of a 4 Mbit/s file would."""

    def read(stop_event: threading.Event) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        conn.request("GET", f"/get?path={camera}&start={format_ms(from_ms)}&duration={seconds}",
                     headers=auth_header())  # fmt: skip
        answer = conn.getresponse()
        began, got = time.monotonic(), 0
        while not stop_event.is_set():
            chunk = answer.read(64 * 1024)
            if not chunk:
                break
            got += len(chunk)
            DELIVERED.append(len(chunk))
            wait = began + got * 8 / STREAM_BPS - time.monotonic()
            if wait > 0 and stop_event.wait(wait):
                break
        conn.close()

    return read


def bench_streams(root: Path, cameras: int, seconds: int) -> dict[str, Any]:
    """Part 2."""
    with CameraSimulator(root / "camsim", cameras, width=1280, height=720,
                         bitrate=STREAM_BPS) as sim:  # fmt: skip
        port = free_port()
        config = write_config(root, port, {c: sim.camera_url(c) for c in sim.camera_ids})
        began_ms = now_ms()
        backup = subprocess.Popen(
            [sys.executable, "-m", "nvr.backup.main", "--config", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        livestream = start_livestream(config, port)
        try:
            time.sleep(WARMUP_RECORDING_SECONDS)  # a minute of recording to play back
            cpu = Cpu(livestream.pid)
            idle = cpu.over(seconds, lambda stop_event: stop_event.wait())
            played_from = began_ms + 5_000
            span = WARMUP_RECORDING_SECONDS - 15
            picks = [sim.camera_ids[i % cameras] for i in range(STREAMS)]
            DELIVERED.clear()
            hls = cpu.over(seconds, _spread(hls_player, port, picks, played_from, span))
            hls_mbps = sum(DELIVERED) * 8 / seconds / 1e6
            DELIVERED.clear()
            get = cpu.over(seconds, _spread(paced_reader, port, picks, played_from, span))
            get_mbps = sum(DELIVERED) * 8 / seconds / 1e6
            ended_ms = now_ms()
            gaps = _gaps(root / "state.db", sim.camera_ids, began_ms + 20_000, ended_ms)
        finally:
            stop(livestream)
            stop(backup)
    return {
        "recording_cameras": cameras,
        "camera_bitrate_bps": STREAM_BPS,
        "streams": STREAMS,
        "seconds_per_phase": seconds,
        "cpu_idle_percent_of_core": round(idle, 2),
        "cpu_hls_8_streams_percent_of_core": round(hls, 2),
        "cpu_get_8_streams_percent_of_core": round(get, 2),
        "delivered_hls_mbit_per_s": round(hls_mbps, 1),
        "delivered_get_mbit_per_s": round(get_mbps, 1),
        "target_cpu_percent_of_core": 10,
        "recording_gaps": gaps,
        "target_recording_gaps": 0,
    }


def _spread(
    make: Callable[[int, str, int, int], Callable[[threading.Event], None]],
    port: int,
    cameras: list[str],
    from_ms: int,
    seconds: int,
) -> Callable[[threading.Event], None]:
    """One worker function per stream, each thread taking the next camera."""
    queue = list(cameras)
    lock = threading.Lock()

    def work(stop_event: threading.Event) -> None:
        with lock:
            camera = queue.pop()
        make(port, camera, from_ms, seconds)(stop_event)

    return work


def _gaps(state_file: Path, cameras: list[str], from_ms: int, to_ms: int) -> int:
    """Gaps in the recording of every camera over [from_ms, to_ms), the open segment aside."""
    with StateStore.open(state_file) as store:
        return sum(
            1
            for camera in cameras
            for gap in coverage(store.read(), camera, from_ms, to_ms).gaps
            if gap.reason != GAP_IN_PROGRESS
        )


def write_results(result: dict[str, Any]) -> None:
    """playback.json and playback.md."""
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "playback.json").write_text(json.dumps(result, indent=2) + "\n")
    ttfb, streams = result["ttfb"], result["streams"]
    lines = [
        "# Playback benchmark",
        "",
        f"Measured {result['measured_at']} on {result['cpus']} CPUs, Python"
        f" {result['python']} (`tests/bench/bench_playback.py`).",
        "",
        f"## Time to first byte, 1-hour `/get`, index of {ttfb['index_segments']:,} segments",
        "",
        "Synthetic index rows (60 s each) over "
        f"{ttfb['real_files']} real 10 s fMP4 files; {ttfb['samples']} requests.",
        "",
        "| measure | value | target |",
        "|---|---|---|",
        f"| median | {ttfb['ttfb_median_ms']} ms | < {ttfb['target_ttfb_ms']} ms |",
        f"| p95 | {ttfb['ttfb_p95_ms']} ms | |",
        f"| ffmpeg alone (baseline, median) | {ttfb['baseline_ffmpeg_alone_median_ms']} ms | |",
        f"| ratio to baseline | {ttfb['ratio_to_baseline']} | |",
        "",
        f"## CPU of {streams['streams']} streams at 4 Mbit/s while"
        f" {streams['recording_cameras']} cameras record",
        "",
        "| measure | value | target |",
        "|---|---|---|",
        f"| idle (baseline) | {streams['cpu_idle_percent_of_core']} % of a core | |",
        f"| 8 HLS players | {streams['cpu_hls_8_streams_percent_of_core']} % of a core | < 10 % |",
        f"| 8 `/get` readers | {streams['cpu_get_8_streams_percent_of_core']} % of a core"
        " | < 10 % |",
        f"| delivered, HLS / `/get` | {streams['delivered_hls_mbit_per_s']} /"
        f" {streams['delivered_get_mbit_per_s']} Mbit/s | 8 x 4 = 32 |",
        f"| recording gaps | {streams['recording_gaps']} | 0 |",
        "",
    ]
    (RESULTS / "playback.md").write_text("\n".join(lines))


def main() -> None:
    """Run both parts and write the results."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--segments", type=int, default=1_000_000)
    parser.add_argument("--cameras", type=int, default=32)
    parser.add_argument("--seconds", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as one, tempfile.TemporaryDirectory() as two:
        ttfb = bench_ttfb(Path(one), args.segments)
        print(json.dumps(ttfb, indent=2), flush=True)
        streams = bench_streams(Path(two), args.cameras, args.seconds)
    result = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "ttfb": ttfb,
        "streams": streams,
    }
    write_results(result)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
