"""The benchmarks' shared input: a day of simulated floor events produced once into a pair
of topics and reused by every later run (a marker key in Redis says how many it holds)."""

from __future__ import annotations

import sys
import time

import redis
from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import NewTopic
from tqdm import tqdm

from bench.common import log
from devtools import simulate as sim
from devtools.services import ServiceConfig


def preload(svc: ServiceConfig, n: int, seed: int, topics: tuple[str, str],
            customers: int = 0) -> int:
    """Produce ~n simulated events once; reuses the topics when they already hold them.
    ``customers``: draw each conversation's customer from a population this size
    (:class:`devtools.simulate.FloorParams`), for the customer path's bench."""
    admin = KafkaAdminClient(bootstrap_servers=svc.bootstrap)
    existing = set(admin.list_topics())
    marker = redis.Redis.from_url(svc.redis_url).get(f"bench:preloaded:{topics[0]}")
    # "<events asked for>:<events produced>" (a day's generation can fall short of n)
    asked, _, held = (marker or b"").decode().partition(":")
    if topics[0] in existing and asked and int(asked) >= n:
        log(f"reusing {int(held or asked)} preloaded events in {topics}")
        admin.close()
        return int(held or asked)
    stale = [t for t in topics if t in existing]
    if stale:  # a partial or smaller preload: start over
        admin.delete_topics(stale)
        time.sleep(3)
    admin.create_topics([NewTopic(t, 4, 1) for t in topics])
    admin.close()
    # about 6 events per conversation land inside the day: aim a little high, then cut
    rate = max(1.0, n / 5.5 / (24 * 60))
    end = int(time.time() * 1000) - 3_600_000
    events = sim.generate(sim.FloorParams(seed=seed, rate_per_min=rate, customers=customers),
                          end - 86_400_000, end)
    events = events[:n]
    producer = KafkaProducer(bootstrap_servers=svc.bootstrap, linger_ms=20,
                             batch_size=512 * 1024, acks=1, compression_type=None)
    for topic, key, value in tqdm(sim.route(events, *topics), total=len(events),
                                  desc="preload", unit="ev", file=sys.stderr):
        producer.send(topic, key=key, value=value)
    producer.flush()
    producer.close()
    redis.Redis.from_url(svc.redis_url).set(f"bench:preloaded:{topics[0]}",
                                            f"{n}:{len(events)}")
    return len(events)
