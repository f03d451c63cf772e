"""Latency baseline: a plain Faust agent that decodes each event and notes its age.

The same paced producer as the worker's latency run (``occurred_at`` = send time) feeds
it; it prints one ``RESULT {json}`` line with p50/p99/max of (receive time − occurred_at)
once N events arrived or nothing arrived for IDLE seconds.

    python -m bench.faust_latency BOOTSTRAP TOPICS N GROUP DATADIR IDLE
"""

from __future__ import annotations

import json
import os
import sys
import time

import faust

STEADY_AFTER_S = 3.0  # = bench.run.STEADY_AFTER_S (not imported: this runs alone)


def main() -> None:
    bootstrap, topics, n = sys.argv[1], sys.argv[2].split(","), int(sys.argv[3])
    group, datadir, idle = sys.argv[4], sys.argv[5], float(sys.argv[6])
    app = faust.App(group, broker=f"kafka://{bootstrap}", value_serializer="raw",
                    key_serializer="raw", web_enabled=False, datadir=datadir,
                    consumer_auto_offset_reset="latest", topic_replication_factor=1,
                    topic_disable_leader=True)  # the leader-topic fetch stall (see streams/app.py)
    src = app.topic(*topics, key_type=bytes, value_type=bytes, value_serializer="raw")
    ages: list[float] = []
    last = {"t": time.time()}
    first: dict[str, float] = {}

    def finish() -> None:
        ages.sort()
        out: dict[str, float] = {"events": len(ages)}
        if ages:
            out |= {"p50": ages[len(ages) // 2], "p99": ages[int(len(ages) * 0.99)],
                    "max": ages[-1]}
        sys.stderr.write("RESULT " + json.dumps(out) + "\n")
        sys.stderr.flush()
        os._exit(0)

    @app.agent(src)
    async def note(stream):  # type: ignore[no-untyped-def]
        async for value in stream:
            now = time.time()
            first.setdefault("t", now)
            age = now - float(json.loads(value)["occurred_at"])
            if now - first["t"] >= STEADY_AFTER_S:  # the steady state, as bench.run samples it
                ages.append(age)
            last["t"] = now
            if len(ages) >= n:
                finish()

    @app.timer(0.5)
    async def watchdog() -> None:
        if ages and time.time() - last["t"] > idle:
            finish()

    @app.task
    async def ready() -> None:
        sys.stderr.write("READY\n")
        sys.stderr.flush()

    faust.Worker(app, loglevel="WARNING", quiet=True).execute_from_commandline()


if __name__ == "__main__":
    main()
