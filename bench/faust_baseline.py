"""Baselines: a Faust agent that decodes each event's JSON and drops it.

``plain``: Faust as documented, one event per record, ``take(1000, within=0.2)`` (the
baseline). ``batch``: the worker's transport (streams/transport.py), one event per fetched
(partition, record list), each record decoded (the Faust ceiling). No validation, no
Redis. Prints one JSON line with its timing when it saw N events (or after MAX_SECONDS).

    python -m bench.faust_baseline BOOTSTRAP TOPICS N GROUP DATADIR [MAX_SECONDS] [MODE]
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time

import faust

from streams.app import PassThrough
from streams.config import MemoryPlan
from streams.transport import SCHEME

PLAN = MemoryPlan()  # the worker's defaults (its budget's sizes)


def main() -> None:
    bootstrap, topics, n = sys.argv[1], sys.argv[2].split(","), int(sys.argv[3])
    group, datadir = sys.argv[4], sys.argv[5]
    max_seconds = float(sys.argv[6]) if len(sys.argv) > 6 else float("inf")
    batch = (sys.argv[7] if len(sys.argv) > 7 else "plain") == "batch"
    app = faust.App(group, broker=f"{SCHEME if batch else 'kafka'}://{bootstrap}",
                    value_serializer="raw", key_serializer="raw", web_enabled=False,
                    datadir=datadir, consumer_auto_offset_reset="earliest",
                    topic_replication_factor=1,
                    stream_buffer_maxsize=PLAN.buffered_fetches if batch else 4096,
                    topic_disable_leader=True)  # the leader-topic fetch stall (see streams/app.py)
    if batch:
        app.batch_topics = frozenset(topics)  # type: ignore[attr-defined]
        src = app.topic(*topics, schema=PassThrough())
    else:
        src = app.topic(*topics, key_type=bytes, value_type=bytes, value_serializer="raw")
    state = {"n": 0, "t0": 0.0, "cpu0": 0.0}

    def cpu() -> float:
        r = resource.getrusage(resource.RUSAGE_SELF)
        return r.ru_utime + r.ru_stime

    def arrived() -> None:
        """The clock starts when the first batch arrives, before it is decoded (as the
        raw ceiling's does): one fetch can hold a small history whole."""
        if state["t0"] == 0.0:
            state["t0"], state["cpu0"] = time.perf_counter(), cpu()

    def count(k: int) -> None:
        state["n"] += k
        if state["n"] >= n or time.perf_counter() - state["t0"] >= max_seconds:
            out = {"events": state["n"], "seconds": time.perf_counter() - state["t0"],
                   "cpu_seconds": cpu() - state["cpu0"]}
            print("RESULT " + json.dumps(out), flush=True)
            os._exit(0)

    @app.agent(src)
    async def drop(stream):  # type: ignore[no-untyped-def]
        if batch:
            async for events in stream.take_events(PLAN.coalesce_fetches, within=0.2):
                arrived()
                k = 0
                for ev in events:
                    for r in ev.value:
                        json.loads(r.value)
                    k += len(ev.value)
                count(k)
        else:
            async for values in stream.take(1000, within=0.2):
                arrived()
                for v in values:
                    json.loads(v)
                count(len(values))

    worker = faust.Worker(app, loglevel="WARNING", quiet=True)
    worker.execute_from_commandline()


if __name__ == "__main__":
    main()
