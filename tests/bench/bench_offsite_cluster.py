"""Benchmark of the offsite tier on an erasure-coded MinIO cluster (4 nodes, EC:2).

    .venv/bin/python tests/bench/bench_offsite_cluster.py [--objects N] [--mib N]

Uploads N objects of the size of a recorded segment through the box's own upload path
(nvr.uplink.objects.store.ObjectStore with a site's access key and policy, the file read
through MeteredReader, no bandwidth cap), on loopback:
- baseline: one MinIO server with one drive (what the box tests use), same run;
- the cluster with every node up, then with one node down (node 3; the box talks to node 0),
  the three setups in turn for several rounds (medians);
- heal: once node 3 is back, the seconds until its drive holds every object written while
  it was down, first without reads (MinIO's own repair), then reading each object once;
- two nodes down: whether a write still goes through and how long the box's upload takes
  to give up (its read timeout is what bounds it), and whether every object still reads.

Writes tests/bench/results/offsite_cluster.json and .md. No target: these are the numbers
docs/design/objects.md quotes.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchlib import machine, write_results

from nvr.core.config import parse_config
from nvr.core.tables.uploads import IMAGES_BUCKET, RECORDINGS_BUCKET, ObjectRef, object_key
from nvr.uplink.objects.store import ObjectStore, ObjectStoreError
from nvr.uplink.objects.throttle import MeteredReader
from nvrtest.minio_server import MinioCluster, MinioServer

SITE = "bench-01"
BUCKETS = (IMAGES_BUCKET, RECORDINGS_BUCKET)
DOWN = 3
UNREAD_HEAL_WAIT_S = 60.0
READ_HEAL_WAIT_S = 60.0


def box_store(minio_section: dict[str, Any], root: Path) -> ObjectStore:
    """The box's ObjectStore, built from a config as nvr-uplink builds it."""
    data = {
        "site": {"id": SITE},
        "storage": {"recordings_dir": str(root / "rec"), "state_file": str(root / "s.db")},
        "cameras": [{"id": "cam01", "url": "rtsp://127.0.0.1:8554/cam01"}],
        "uplink": {"minio": minio_section},
    }
    minio = parse_config(data, root / "nvr.yaml").uplink.minio
    assert minio is not None
    return ObjectStore(minio)


def upload(store: ObjectStore, refs: list[ObjectRef], content: bytes) -> float:
    """Upload every ref as the service does (hash check first); MiB/s."""
    digest = hashlib.sha256(content).hexdigest()
    started = time.monotonic()
    for ref in refs:
        if store.stored_sha256(ref) != digest:
            reader = MeteredReader(io.BytesIO(content), None, threading.Event())
            store.put(ref, reader, len(content), digest)
    elapsed = time.monotonic() - started
    return round(len(refs) * len(content) / (1 << 20) / elapsed, 1)


def refs(label: str, count: int) -> list[ObjectRef]:
    at_ms = int(time.time() * 1000)
    return [
        ObjectRef(RECORDINGS_BUCKET, object_key(SITE, "cam01", at_ms, f"{label}-{i:04d}.mp4"))
        for i in range(count)
    ]


def seconds_until_healed(
    cluster: MinioCluster, wanted: list[ObjectRef], wait_s: float, read: bool
) -> float | None:
    """Seconds until node DOWN's drive holds every ref (None: not within wait_s)."""
    client = cluster.client()
    started = time.monotonic()
    while time.monotonic() - started < wait_s:
        missing = [r for r in wanted if not (cluster.drive(DOWN) / r.bucket / r.key).exists()]
        if not missing:
            return round(time.monotonic() - started, 1)
        if read:
            for ref in missing:
                client.stat_object(ref.bucket, ref.key)
        time.sleep(0.2)
    return None


def two_down(
    cluster: MinioCluster, store: ObjectStore, content: bytes, written: list[ObjectRef]
) -> dict[str, Any]:
    """Nodes 1 and 2 down: a write's fate and time; reads of what was written."""
    for node in (1, 2):
        cluster.stop_node(node)
    try:
        digest = hashlib.sha256(content).hexdigest()
        client = cluster.client()
        readable = 0
        for ref in written:
            response = client.get_object(ref.bucket, ref.key)
            try:
                readable += hashlib.sha256(response.read()).hexdigest() == digest
            finally:
                response.close()
                response.release_conn()
        (ref,) = refs("two-down", 1)
        started = time.monotonic()
        try:
            upload(store, [ref], content)
            outcome = "stored"
        except ObjectStoreError as err:
            outcome = str(err)
        return {
            "read_ok": readable,
            "read_of": len(written),
            "write": outcome,
            "write_seconds": round(time.monotonic() - started, 1),
            "cluster_health_write": cluster.writable(),
            "cluster_health_read": cluster.readable(),
        }
    finally:
        for node in (1, 2):
            cluster.start_node(node)


def run(objects: int, mib: int, rounds: int) -> dict[str, Any]:
    content = (bytes(range(256)) * 4096)[: 1 << 20] * mib
    rates: dict[str, list[float]] = {"single": [], "all_up": [], "one_down": []}
    with (
        tempfile.TemporaryDirectory(prefix="bench-offsite-") as tmp,
        MinioServer(Path(tmp) / "single") as single,
        MinioCluster(Path(tmp) / "cluster") as cluster,
    ):
        root = Path(tmp)
        single.client().make_bucket(RECORDINGS_BUCKET)
        for bucket in BUCKETS:
            cluster.client().make_bucket(bucket)
        baseline = box_store(single.config_section(), root)
        store = box_store(cluster.add_site(SITE, BUCKETS).config_section(), root)
        written_up: list[ObjectRef] = []
        written_down: list[ObjectRef] = []
        # Rounds alternate the setups, so a busy moment of the machine hits all three alike.
        for round_no in range(rounds):
            rates["single"].append(upload(baseline, refs(f"one{round_no}", objects), content))
            written_up += refs(f"up{round_no}", objects)
            rates["all_up"].append(upload(store, written_up[-objects:], content))
            cluster.stop_node(DOWN)
            written_down += refs(f"down{round_no}", objects)
            rates["one_down"].append(upload(store, written_down[-objects:], content))
            cluster.start_node(DOWN)
        unread = seconds_until_healed(cluster, written_down, UNREAD_HEAL_WAIT_S, read=False)
        with_reads = seconds_until_healed(cluster, written_down, READ_HEAL_WAIT_S, read=True)
        degraded = two_down(cluster, store, content, written_up + written_down)
        parity = cluster.backend()["standardSCParity"]
    single_rate, all_up, one_down = (statistics.median(rates[k]) for k in rates)
    return {
        "objects": objects,
        "object_mib": mib,
        "rounds": rounds,
        "rates_mib_s": rates,
        "single_server_mib_s": single_rate,
        "cluster_all_up_mib_s": all_up,
        "cluster_one_down_mib_s": one_down,
        "one_down_vs_all_up": round(one_down / all_up, 2),
        "all_up_vs_single": round(all_up / single_rate, 2),
        "parity": parity,
        "healed_objects": len(written_down),
        "heal_without_reads_s": unread,
        "heal_without_reads_waited_s": UNREAD_HEAL_WAIT_S,
        "heal_with_one_read_each_s": with_reads,
        "two_down": degraded,
        **machine(),
    }


def markdown(result: dict[str, Any]) -> str:
    unread = result["heal_without_reads_s"]
    unread_text = (
        f"{unread} s"
        if unread is not None
        else f"not within {result['heal_without_reads_waited_s']:.0f} s"
    )
    two = result["two_down"]
    all_up, one_down = result["cluster_all_up_mib_s"], result["cluster_one_down_mib_s"]
    return f"""# Offsite tier on a 4-node MinIO cluster (EC:{result["parity"]})

{result["objects"]} objects of {result["object_mib"]} MiB through the box's upload path per setup
and round, loopback, {result["cpus"]} CPUs, {result["measured_at"]}; medians of
{result["rounds"]} rounds (each: {", ".join(f"{k} {v}" for k, v in result["rates_mib_s"].items())}).

| setup | MiB/s |
|---|---|
| one server, one drive (baseline) | {result["single_server_mib_s"]} |
| cluster, 4 of 4 nodes | {all_up} ({result["all_up_vs_single"]}x baseline) |
| cluster, 3 of 4 nodes | {one_down} ({result["one_down_vs_all_up"]}x all up) |

Heal of the {result["healed_objects"]} objects written while node {DOWN} was down, once it is
back: without reads
{unread_text}; reading each object once: {result["heal_with_one_read_each_s"]} s.

Two nodes down: {two["read_ok"]} of {two["read_of"]} objects read with their SHA-256; a
write -> {two["write"]} after {two["write_seconds"]} s; cluster health write
{two["cluster_health_write"]}, read {two["cluster_health_read"]}.
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=20, help="objects per setup")
    parser.add_argument("--mib", type=int, default=6, help="MiB per object (a 60 s segment)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the three setups")
    args = parser.parse_args()
    result = run(args.objects, args.mib, args.rounds)
    write_results("offsite_cluster", result, markdown(result))


if __name__ == "__main__":
    main()
