"""A real Redis Cluster on loopback (masters with one replica each), without Docker.

``redis-server --cluster-enabled yes`` per node and ``redis-cli --cluster create`` to join
them, as an operator would; plus the operations the tests put it through: a reshard with
``redis-cli --cluster reshard`` and a coordinated failover (``CLUSTER FAILOVER`` on a
replica). Used by ``support-kpi services cluster-up`` and the cluster integration test.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import redis

from devtools.services import (
    ServiceError,
    _launch,
    _pid_alive,
    _port_open,
    _require,
    _Server,
    _stop_pid,
    redis_ping,
)

Log = Callable[[str], None]


@dataclass(frozen=True)
class ClusterConfig:
    state_dir: Path
    base_port: int = 17000
    masters: int = 3
    replicas: int = 1  # per master

    @property
    def ports(self) -> list[int]:
        return [self.base_port + i for i in range(self.masters * (1 + self.replicas))]

    @property
    def url(self) -> str:
        """Any one node: the cluster client discovers the others."""
        return f"redis://127.0.0.1:{self.base_port}/0"


@dataclass(frozen=True)
class Node:
    node_id: str
    port: int
    master: bool
    master_id: str  # its master's id, for a replica ("" for a master)
    slots: tuple[tuple[int, int], ...]  # inclusive ranges


def _node_dir(cfg: ClusterConfig, port: int) -> Path:
    return cfg.state_dir / f"node-{port}"


def _start_node(cfg: ClusterConfig, server: str, port: int) -> None:
    srv = _Server("redis", _node_dir(cfg, port), port, "--base-port", f"127.0.0.1:{port}",
                  lambda: redis_ping(port), 20, 0.1)
    _launch(srv, [server, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(srv.base),
                  "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                  "--cluster-node-timeout", "2000", "--save", "", "--appendonly", "no",
                  "--daemonize", "no", "--protected-mode", "yes"], lambda _m: None)


def nodes(port: int) -> list[Node]:
    """The cluster as node ``port`` sees it (CLUSTER NODES)."""
    cli = _require("redis-cli", "install Redis (apt-get install redis-tools)")
    text = subprocess.run([cli, "-p", str(port), "cluster", "nodes"], capture_output=True,
                          text=True, timeout=10, check=True).stdout
    out = []
    for line in text.strip().splitlines():
        parts = line.split()
        slots = []
        for s in parts[8:]:
            if s.startswith("["):
                continue  # a slot being migrated or imported
            lo, _, hi = s.partition("-")
            slots.append((int(lo), int(hi or lo)))
        out.append(Node(parts[0], int(parts[1].split(":")[1].split("@")[0]),
                        "master" in parts[2], "" if parts[3] == "-" else parts[3],
                        tuple(slots)))
    return out


def owner(port: int, slot: int) -> Node:
    """The master serving ``slot``."""
    for n in nodes(port):
        if n.master and any(lo <= slot <= hi for lo, hi in n.slots):
            return n
    raise ServiceError(f"no master serves slot {slot}")


def wait_ok(cfg: ClusterConfig, timeout_s: float = 60) -> None:
    """Until every node says cluster_state:ok, all agree on which masters serve the
    slots, and every replica is linked to its master."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if _settled(cfg):
                return
        except (redis.RedisError, subprocess.SubprocessError, IndexError, ValueError):
            pass
        time.sleep(0.2)
    raise ServiceError(f"the cluster on ports {cfg.ports} was not ok within {timeout_s:.0f} s")


def _settled(cfg: ClusterConfig) -> bool:
    views = set()
    for p in cfg.ports:
        if redis.Redis(port=p).cluster("info")["cluster_state"] != "ok":
            return False
        seen = nodes(p)
        views.add(tuple(sorted((n.node_id, n.master, n.master_id, n.slots) for n in seen)))
        replicas = [n for n in seen if not n.master]
        if len(replicas) != cfg.masters * cfg.replicas:
            return False
    if len(views) != 1:
        return False
    for n in nodes(cfg.base_port):
        if not n.master and redis.Redis(port=n.port).info("replication").get(
                "master_link_status") != "up":
            return False
    return True


def cluster_up(cfg: ClusterConfig, log: Log = print) -> None:
    """Start the nodes and create the cluster (reuses a running one)."""
    server = _require("redis-server", "install Redis (apt-get install redis-server)")
    cli = _require("redis-cli", "install Redis (apt-get install redis-tools)")
    if all(_pid_alive(_node_dir(cfg, p) / "redis.pid") for p in cfg.ports):
        wait_ok(cfg)
        log(f"redis cluster: already running on ports {cfg.ports[0]}..{cfg.ports[-1]}")
        return
    for p in cfg.ports:
        if _port_open(p):
            raise ServiceError(f"port {p} is taken by another process; choose another base "
                               "port with --base-port")
    shutil.rmtree(cfg.state_dir, ignore_errors=True)  # nodes.conf of an old cluster
    for p in cfg.ports:
        _start_node(cfg, server, p)  # each answers PING before the next starts
    create = subprocess.run(
        [cli, "--cluster", "create", *(f"127.0.0.1:{p}" for p in cfg.ports),
         "--cluster-replicas", str(cfg.replicas), "--cluster-yes"],
        capture_output=True, text=True, timeout=120)
    if create.returncode:
        raise ServiceError(f"redis-cli --cluster create failed: {create.stdout[-500:]}"
                           f"{create.stderr[-500:]}")
    wait_ok(cfg)
    log(f"redis cluster: {cfg.masters} masters and {cfg.masters * cfg.replicas} replicas up "
        f"on 127.0.0.1:{cfg.ports[0]}..{cfg.ports[-1]}")


def cluster_down(cfg: ClusterConfig, log: Log = print) -> None:
    for p in cfg.ports:
        _stop_pid(_node_dir(cfg, p) / "redis.pid", f"redis node {p}", log)


def reshard(cfg: ClusterConfig, source: Node, target: Node, slots: int) -> None:
    """Move ``slots`` slots (the source's lowest) with their keys, as an operator would."""
    cli = _require("redis-cli", "install Redis (apt-get install redis-tools)")
    done = subprocess.run(
        [cli, "--cluster", "reshard", f"127.0.0.1:{cfg.base_port}",
         "--cluster-from", source.node_id, "--cluster-to", target.node_id,
         "--cluster-slots", str(slots), "--cluster-yes", "--cluster-pipeline", "100"],
        capture_output=True, text=True, timeout=300)
    if done.returncode:
        raise ServiceError(f"redis-cli --cluster reshard failed: {done.stdout[-800:]}"
                           f"{done.stderr[-500:]}")


def failover(cfg: ClusterConfig, master: Node, timeout_s: float = 30) -> Node:
    """Promote ``master``'s replica (coordinated: the replica catches up first); returns
    the new master."""
    replica = next(n for n in nodes(cfg.base_port) if n.master_id == master.node_id)
    redis.Redis(port=replica.port).execute_command("CLUSTER FAILOVER")
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        me = next(n for n in nodes(replica.port) if n.node_id == replica.node_id)
        if me.master:
            wait_ok(cfg)
            return me
        time.sleep(0.1)
    raise ServiceError(f"the replica on port {replica.port} did not take over in "
                       f"{timeout_s:.0f} s")
