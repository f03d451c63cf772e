"""Baseline: a plain Faust agent that decodes each event's JSON and drops it.

Same topics, same raw-bytes consumption and the same take-batching as the real worker,
but no validation, no Redis. Prints one JSON line with its timing when it saw N events
(or after MAX_SECONDS).

    python -m bench.faust_baseline BOOTSTRAP TOPICS N GROUP DATADIR [MAX_SECONDS]
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time

import faust


def main() -> None:
    bootstrap, topics, n = sys.argv[1], sys.argv[2].split(","), int(sys.argv[3])
    group, datadir = sys.argv[4], sys.argv[5]
    max_seconds = float(sys.argv[6]) if len(sys.argv) > 6 else float("inf")
    app = faust.App(group, broker=f"kafka://{bootstrap}", value_serializer="raw",
                    key_serializer="raw", web_enabled=False, datadir=datadir,
                    consumer_auto_offset_reset="earliest", topic_replication_factor=1,
                    stream_buffer_maxsize=4096,
                    topic_disable_leader=True)  # the leader-topic fetch stall (see streams/app.py)
    src = app.topic(*topics, key_type=bytes, value_type=bytes, value_serializer="raw")
    state = {"n": 0, "t0": 0.0, "cpu0": 0.0}

    def cpu() -> float:
        r = resource.getrusage(resource.RUSAGE_SELF)
        return r.ru_utime + r.ru_stime

    @app.agent(src)
    async def drop(stream):  # type: ignore[no-untyped-def]
        async for values in stream.take(1000, within=0.2):
            if state["n"] == 0:
                state["t0"], state["cpu0"] = time.perf_counter(), cpu()
            for v in values:
                json.loads(v)
            state["n"] += len(values)
            if state["n"] >= n or time.perf_counter() - state["t0"] >= max_seconds:
                out = {"events": state["n"], "seconds": time.perf_counter() - state["t0"],
                       "cpu_seconds": cpu() - state["cpu0"]}
                print("RESULT " + json.dumps(out), flush=True)
                os._exit(0)

    worker = faust.Worker(app, loglevel="WARNING", quiet=True)
    worker.execute_from_commandline()


if __name__ == "__main__":
    main()
