"""Playing a simulated floor into Kafka (``support-kpi simulate``, the demo): each event
sent when the simulated clock reaches it, routed as the live path routes it (agent events
to the agents topic, keyed by agent), with the duplicates and invalid messages asked for."""

from __future__ import annotations

import gzip
import json
import random
import signal
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from devtools.simulate import INVALID_SAMPLES, due_s, route


def iso(t_ms: int) -> str:
    return datetime.fromtimestamp(t_ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def write_history(out: Path, history: list[dict[str, object]]) -> int:
    """The history as JSON lines (``.gz`` compressed); how many were written."""
    opener: Any = gzip.open if out.suffix == ".gz" else open
    with opener(out, "wt") as fh:
        for e in history:
            fh.write(json.dumps(e) + "\n")
    return len(history)


class Sender:
    """Routes events to their topic, adding the requested duplicates and invalid lines;
    agent events go to ``agents`` (dropped without one)."""

    def __init__(self, producer: Any, tickets: str, chats: str, rng: random.Random,
                 invalid_rate: float, duplicate_rate: float, agents: str | None = None) -> None:
        self._producer = producer
        self._topics = (tickets, chats, agents or None)
        self._rng = rng
        self._invalid = invalid_rate
        self._duplicate = duplicate_rate
        self.counts = {"sent": 0, "invalid": 0, "duplicate": 0}

    def __call__(self, e: dict[str, object]) -> None:
        send = self._producer.send
        for topic, key, value in route([e], *self._topics):
            send(topic, key=key, value=value)
            self.counts["sent"] += 1
            if self._duplicate and self._rng.random() < self._duplicate:
                send(topic, key=key, value=value)
                self.counts["duplicate"] += 1
            if self._invalid and self._rng.random() < self._invalid:
                send(topic, key=key, value=self._rng.choice(INVALID_SAMPLES))
                self.counts["invalid"] += 1


def play(events: Iterator[dict[str, object]], send: Sender, start_ms: int, now_ms: int,
         speed: float, end_ms: int | None) -> None:
    """Send in time order, each when the simulated clock reaches it (see ``due_s``); a
    progress bar over the history, then quiet live traffic until ``end_ms`` or SIGTERM."""
    from tqdm import tqdm

    stop = False

    def _stop(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, _stop)
    wall0 = time.time()
    span_s = max(0.0, (now_ms - start_ms) / 1000)
    bar = tqdm(total=round(span_s / 60), unit="sim min", desc="history",
               disable=span_s == 0, mininterval=1)
    for e in events:
        t_ms = float(e["occurred_at"]) * 1000  # type: ignore[arg-type]
        due = due_s(t_ms, start_ms, wall0, speed)
        while not stop and (wait := due - time.time()) > 0:
            time.sleep(min(0.2, wait))
        if stop or (end_ms is not None and t_ms >= end_ms):
            break
        if not bar.disable and t_ms <= now_ms:
            bar.update(round((t_ms - start_ms) / 60_000) - bar.n)
        elif not bar.disable:
            bar.close()
            bar.disable = True
        send(e)
    bar.close()
