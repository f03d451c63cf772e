"""The worker on a real Redis Cluster: three masters with a replica each, on loopback.

A simulated floor streams through Kafka while a slot the worker is writing is resharded
to another master (``redis-cli --cluster reshard``) and that master is then failed over to
its replica (``CLUSTER FAILOVER``). The windows must equal the batch oracle, no worker may
crash or restart, and ``query``, ``/metrics`` and the wall must read the cluster.
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from redis.crc import key_slot

from devtools.cluster import (
    ClusterConfig,
    Node,
    cluster_down,
    cluster_up,
    failover,
    nodes,
    owner,
    reshard,
    wait_ok,
)
from devtools.services import ServiceConfig, _port_open
from tests.replay_check import cli, compare_with_oracle, counters, seen
from tests.support import ROOT, WorkerProcess, parse, sample, scrape, wait_for
from windows.keys import Keys

pytestmark = pytest.mark.integration

PARTITIONS = 6


def _free_block(n: int) -> int:
    """A base port with ``n`` free ports after it, and their cluster bus ports (+10000)."""
    for base in range(21000, 30000, 97):
        if not any(_port_open(p) or _port_open(p + 10000) for p in range(base, base + n)):
            return base
    raise RuntimeError("no free block of ports for the cluster")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClusterConfig]:
    cfg = ClusterConfig(tmp_path_factory.mktemp("cluster"), base_port=_free_block(6))
    cluster_up(cfg)
    try:
        yield cfg
    finally:
        cluster_down(cfg)


def _hot_prefix(cfg: ClusterConfig, topic: str) -> tuple[str, str, Node, int]:
    """A key prefix one of whose partition tags falls in the first slots of its master's
    range, so that resharding a few slots moves a slot the worker writes (both input
    topics share a partition number's tag). Returns the prefix, that partition, its
    master, and how many slots to move."""
    masters = [n for n in nodes(cfg.base_port) if n.master]
    for _ in range(2000):
        prefix = "c" + uuid.uuid4().hex[:8]
        for p in range(PARTITIONS):
            pfield = f"{topic}:{p}"
            slot = key_slot(Keys(prefix).of(pfield).offsets.encode())
            m = next(m for m in masters if any(lo <= slot <= hi for lo, hi in m.slots))
            first = min(lo for lo, _hi in m.slots)
            if slot - first < 150:
                return prefix, pfield, m, slot - first + 1
    raise AssertionError("no prefix with a hot slot near the start of a master's range")


def _split(src: Path, dst: Path, parts: int) -> list[Path]:
    with gzip.open(src, "rt") as fh:
        lines = [ln for ln in fh if ln.strip()]
    size = -(-len(lines) // parts)
    out = []
    for i in range(parts):
        f = dst / f"part{i}.jsonl.gz"
        with gzip.open(f, "wt") as fh:
            fh.writelines(lines[i * size:(i + 1) * size])
        out.append(f)
    return out


def _lines(file: Path) -> int:
    with gzip.open(file, "rt") as fh:
        return sum(1 for ln in fh if ln.strip())


def _replay(env: dict[str, str], file: Path) -> subprocess.Popen[bytes]:
    """`replay` paced at 300x event time: a third (40 minutes) takes about 8 s."""
    return subprocess.Popen([sys.executable, "-m", "supportkpi.cli", "replay", "--speed", "300",
                             str(file)], cwd=ROOT, env=env, stdout=subprocess.DEVNULL)


def test_worker_on_a_cluster_through_reshard_and_failover(
        services: ServiceConfig, cluster: ClusterConfig, worker_env: dict[str, str],
        tmp_path: Path) -> None:
    prefix, hot, source, n_slots = _hot_prefix(cluster, worker_env["SUPPORT_TOPIC_TICKETS"])
    env = {**worker_env, "SUPPORT_REDIS_URL": cluster.url, "SUPPORT_REDIS_CLUSTER": "true",
           "SUPPORT_KEY_PREFIX": prefix, "SUPPORT_TOPIC_PARTITIONS": str(PARTITIONS)}
    file = tmp_path / "floor.jsonl.gz"
    end = int(time.time()) - 300
    cli(env, "simulate", "--backfill", "120m", "--until", str(end), "--rate", "50",
        "--seed", "1313", "--out", str(file))
    parts = _split(file, tmp_path, 3)
    total = _lines(file)
    port = int(env["SUPPORT_METRICS_PORT"])
    worker = WorkerProcess(env, tmp_path / "worker.log").start()
    try:
        wait_for(lambda: seen(port) == 0, 90, "worker up on the cluster")
        cli(env, "replay", str(parts[0]))
        sizes = [_lines(p) for p in parts]
        wait_for(lambda: seen(port) >= sizes[0], 120, "the first third applied")
        slot = key_slot(Keys(prefix).of(hot).offsets.encode())
        # the second third streams (paced) while its hot slot moves to another master
        replay = _replay(worker.env, parts[1])
        wait_for(lambda: seen(port) > sizes[0] + 200, 60, "the second third streaming")
        target = next(n for n in nodes(cluster.base_port) if n.master
                      and n.node_id != source.node_id)
        print(time.strftime("%H:%M:%S"), "reshard", n_slots, "slots of", hot, flush=True)
        reshard(cluster, source, target, n_slots)
        print(time.strftime("%H:%M:%S"), "resharded", flush=True)
        assert owner(cluster.base_port, slot).node_id == target.node_id
        assert seen(port) < sum(sizes[:2]), "the reshard was not mid-stream"
        assert replay.wait(300) == 0
        # the third streams while the master now holding the hot slot fails over
        replay = _replay(worker.env, parts[2])
        wait_for(lambda: seen(port) > sum(sizes[:2]) + 200, 60, "the last third streaming")
        print(time.strftime("%H:%M:%S"), "failover", flush=True)
        promoted = failover(cluster, owner(cluster.base_port, slot))
        print(time.strftime("%H:%M:%S"), "failed over", flush=True)
        assert owner(cluster.base_port, slot).node_id == promoted.node_id
        assert seen(port) < total, "the failover was not mid-stream"
        assert replay.wait(300) == 0
        try:
            wait_for(lambda: seen(port) >= total, 180, f"{total} events seen", interval=1)
        except AssertionError as exc:
            raise AssertionError(f"{exc}; {counters(port)}; log:\n"
                                 f"{worker.log_text()[-4000:]}") from None
        worker.assert_running()
        assert seen(port) == total, counters(port)  # not one counted twice
        wait_ok(cluster)
        # query (a CLI process with its own cluster client) against the oracle
        compare_with_oracle(env, file, [str(end - 3600), str(end + 60)])
        # /metrics and the wall read the cluster too
        samples = parse(scrape(port))
        assert sample(samples, "support_redis_up") == 1
        assert sample(samples, "support_worker_restarts") == 0
        assert sample(samples, "support_store_complete", window="24h") == 1
        assert not sum(v for (n, _l), v in samples.items()
                       if n in ("support_dlq_messages_total", "support_store_rewinds_total"))
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/snapshot?window=24h",
                                    timeout=10) as resp:
            wall = json.load(resp)
        client = redis.RedisCluster.from_url(cluster.url)
        assert wall["queues"] and any(t["value"] for t in wall["tiles"])
        parts_seen = {f.decode() for f in client.hkeys(Keys(prefix).partitions)}
        masters = {owner(cluster.base_port, key_slot(Keys(prefix).of(p).offsets.encode()))
                   .node_id for p in parts_seen}
        assert len(masters) > 1, "the partitions did not spread over the masters"
        log = worker.log_text()
        assert "Crashed" not in log and "Traceback" not in log, log[-4000:]
    finally:
        worker.stop()
