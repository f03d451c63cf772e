"""What the benchmark scripts share (bench.run and bench.soak import it; not each other)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import redis

from devtools.services import ServiceConfig
from windows.keys import Keys

ROOT = Path(__file__).resolve().parent.parent
# Where the soak's section of docs/benchmarks.md starts and ends: bench.run keeps it.
SOAK_START = "<!-- soak:start -->"
SOAK_END = "<!-- soak:end -->"


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def worker_env(svc: ServiceConfig, ns: str, tmp: Path, port: int,
                **extra: str) -> dict[str, str]:
    return {**os.environ, "SUPPORT_KAFKA_BOOTSTRAP": svc.bootstrap,
            "SUPPORT_REDIS_URL": svc.redis_url, "SUPPORT_KEY_PREFIX": ns, "SUPPORT_APP_ID": ns,
            "SUPPORT_TOPIC_TICKETS": f"{ns}.tickets", "SUPPORT_TOPIC_CHATS": f"{ns}.chats",
            "SUPPORT_TOPIC_DLQ": f"{ns}.dlq", "SUPPORT_TOPIC_ALERTS": f"{ns}.alerts",
            "SUPPORT_TOPIC_AGENTS": f"{ns}.agents",
            "SUPPORT_METRICS_PORT": str(port), "SUPPORT_DATA_DIR": str(tmp / ns),
            "SUPPORT_LOG_LEVEL": "warning", **extra}


# TTLs scaled down so that a few minutes show what eight days do with the defaults
CURVE_SETTINGS = {"SUPPORT_WINDOWS": "1m", "SUPPORT_BUCKETS_PER_WINDOW": "12",
                  "SUPPORT_BUCKET_TTL_MARGIN": "10s", "SUPPORT_CONVERSATION_TTL": "60s",
                  "SUPPORT_REOPEN_WINDOW": "30s"}


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def partition_hashes(client: redis.Redis, ns: str, which: str) -> list[dict[bytes, bytes]]:
    """One hash (``stats``, ``offsets``) of every partition of store ``ns``: the bench
    reads them directly, polling fast, where the product reads through WindowReader."""
    keys = Keys(ns)
    scopes = {keys.of(f.decode()) for f in client.hkeys(keys.partitions)}
    pipe = client.pipeline(transaction=False)
    for k in scopes:
        pipe.hgetall(getattr(k, which))
    return list(pipe.execute())


def redis_usage(client: redis.Redis) -> tuple[float, dict[str, int]]:
    """Redis' CPU seconds so far and its calls per command (a script's own calls counted),
    for the difference over a measured run."""
    cpu = client.info("cpu")
    stats = client.info("commandstats")
    return (cpu["used_cpu_user"] + cpu["used_cpu_sys"],
            {k.removeprefix("cmdstat_"): v["calls"] for k, v in stats.items()})


def store_keys(client: redis.Redis, ns: str) -> list[bytes]:
    """Every key of store ``ns``: its partitions' and its shared ones."""
    return [key for pattern in Keys(ns).partition_patterns
            for key in client.scan_iter(match=pattern, count=5000)]


def drop_store(client: redis.Redis, ns: str) -> None:
    """Unlink every key of store ``ns`` (a bench's own namespace, after measuring it)."""
    keys = store_keys(client, ns)
    for i in range(0, len(keys), 1000):
        client.unlink(*keys[i:i + 1000])
