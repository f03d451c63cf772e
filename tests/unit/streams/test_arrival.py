"""The lateness rule replayed over arrivals, as the worker applies it: per partition, an
event more than the allowed lateness older than the newest one before it is dropped."""

from __future__ import annotations

import json
import random

from devtools import oracle
from kpi.config import KpiConfig, windows_from_text
from streams.arrival import LateCounter, count_late, partition_of

H = 3_600_000


def test_late_is_per_partition_and_relative_to_the_newest_before() -> None:
    c = LateCounter(H, {"t": 1})
    assert not c.arrive("t", b"a", 10 * H)
    assert not c.arrive("t", b"b", 9 * H)  # exactly the lateness behind: kept
    assert c.arrive("t", b"c", 9 * H - 1)
    assert not c.arrive("u", b"c", 0)  # another topic has its own newest
    assert c.late == 1


def test_the_prediction_agrees_with_the_oracle_on_random_orders() -> None:
    """The oracle implements the worker's admission on its own; both count the same late
    events for shuffled histories on 4 partitions."""
    cfg = KpiConfig(windows=windows_from_text("1h"))
    rnd = random.Random(7)
    for _ in range(20):
        docs = [{"event_id": str(i), "type": "ticket.created", "conversation_id": f"c{i % 13}",
                 "occurred_at": rnd.randrange(0, 6 * 3600) + 1_767_225_600}
                for i in range(200)]
        arrivals = [("t", d["conversation_id"].encode(), d["occurred_at"] * 1000)  # type: ignore[attr-defined, operator]
                    for d in docs]
        msgs = [("t", partition_of(k, 4), json.dumps(d).encode())
                for (_, k, _), d in zip(arrivals, docs, strict=True)]
        assert count_late(arrivals, cfg.allowed_lateness_ms, {"t": 4}) == \
            oracle.accept(msgs, cfg).late
