"""A history into the input topics: ``replay`` of a JSONL file and ``import`` of a vendor's
export both end here.

Lines are routed as the live path routes them (tickets and chats by type, a survey where its
conversation went, keyed by conversation id) and sent in event-time order, because the worker
drops an event more than the allowed lateness older than the newest of its partition: a
history in another order can lose most of its events without any error, so what the
lateness rule will do is predicted here (:mod:`streams.arrival`) before anything is sent.
"""

from __future__ import annotations

import gzip
import json
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from streams.arrival import LateCounter, count_late, time_order
from streams.config import KafkaAccess
from streams.schema import BACKFILL_HEADER, parse_occurred_at


@dataclass(frozen=True)
class InputTopics:
    tickets: str
    chats: str

    def of(self, typ: str, cid: str, seen: dict[str, str]) -> str:
        """The input topic a history's line goes to (and the oracle keys its lateness by):
        tickets and chats by type, a survey (or anything else) where its conversation went."""
        if typ.startswith("ticket."):
            return seen.setdefault(cid, self.tickets)
        if typ.startswith("chat."):
            return seen.setdefault(cid, self.chats)
        return seen.get(cid, self.tickets)


@dataclass(frozen=True)
class Line:
    """One line of a history: its time (None: not a valid event), routing and bytes."""

    t_ms: int | None
    topic: str
    key: bytes | None
    raw: bytes


def open_events(path: Path) -> IO[bytes]:
    """A history or export file, ``.gz`` decompressed."""
    if path.suffix == ".gz":
        return gzip.open(path, "rb")  # type: ignore[return-value]  # a GzipFile reads bytes
    return open(path, "rb")  # the caller's `with` closes it


def time_of(line: bytes) -> int | None:
    """A line's event time as the worker reads it (None: no valid time)."""
    try:
        return parse_occurred_at(json.loads(line).get("occurred_at"))
    except (ValueError, AttributeError, TypeError, RecursionError):
        return None


def _fields(raw: bytes) -> tuple[str, str, int | None]:
    """Conversation id, type and event time of a line ("", "", None when unreadable)."""
    try:
        doc = json.loads(raw)
        return (str(doc.get("conversation_id", "")), str(doc.get("type", "")),
                parse_occurred_at(doc.get("occurred_at")))
    except (ValueError, AttributeError, TypeError, RecursionError):
        return "", "", None


def read_lines(file: Path, topics: InputTopics, lo: float | None = None,
               hi: float | None = None, skipped: list[int] | None = None) -> Iterator[Line]:
    """The history's lines inside [lo, hi) (ms; None: open) in file order, with their
    routing; the count of those outside goes to ``skipped[0]``."""
    seen: dict[str, str] = {}
    with open_events(file) as fh:
        for raw in fh:
            raw = raw.strip()
            if not raw:
                continue
            cid, typ, t_ms = _fields(raw)
            if (lo is not None or hi is not None) and (
                    t_ms is None or (lo is not None and t_ms < lo)
                    or (hi is not None and t_ms >= hi)):
                if skipped is not None:
                    skipped[0] += 1
                continue
            yield Line(t_ms, topics.of(typ, cid, seen), cid.encode() if cid else None, raw)


def count_lines(file: Path) -> int:
    with open_events(file) as fh:
        return sum(1 for line in fh if line.strip())


def partition_counts(access: KafkaAccess, topics: InputTopics, default: int) -> dict[str, int]:
    """Partition counts of the input topics, read without creating them (a producer's
    metadata request would auto-create a missing one with the broker's default count);
    ``default`` for one the worker has not created yet."""
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    out = {t: default for t in (topics.tickets, topics.chats)}
    try:
        admin = KafkaAdminClient(bootstrap_servers=access.bootstrap,
                                 **access.kafka_python_options())
    except KafkaError:
        return out
    try:
        existing = set(admin.list_topics())
        for d in admin.describe_topics([t for t in out if t in existing]):
            name = d.get("topic") or d.get("name")
            if name in out and d.get("partitions"):
                out[name] = len(d["partitions"])
    finally:
        admin.close()
    return out


@dataclass(frozen=True)
class Ordered:
    """A history ready to send, and what the lateness rule will do to it."""

    lines: Iterable[Line]  # in sending order
    sorted: bool  # by event time (else file order)
    late: int  # events the worker will drop as late, in the order sent
    file_late: int  # ... had it been sent in file order
    skipped: int  # outside the time range


def order_history(file: Path, topics: InputTopics, partitions: dict[str, int],
                  lateness_ms: int, *, by_time: bool, lo: float | None = None,
                  hi: float | None = None) -> Ordered:
    """The history of ``file`` in sending order: sorted by event time when ``by_time``
    (in memory), else streamed in file order; with the late events either order gives."""
    skipped = [0]
    in_file_order = LateCounter(lateness_ms, partitions)
    lines = list(read_lines(file, topics, lo, hi, skipped)) if by_time else None
    for ln in lines if lines is not None else read_lines(file, topics, lo, hi):
        if ln.t_ms is not None:
            in_file_order.arrive(ln.topic, ln.key or b"", ln.t_ms)
    if lines is None:
        return Ordered(read_lines(file, topics, lo, hi), False, in_file_order.late,
                       in_file_order.late, skipped[0])
    lines = [lines[i] for i in time_order([ln.t_ms for ln in lines])]
    late = count_late(((ln.topic, ln.key or b"", ln.t_ms) for ln in lines), lateness_ms,
                      partitions)
    return Ordered(lines, True, late, in_file_order.late, skipped[0])


def send(producer: Any, lines: Iterable[Line], speed: float, total: int,
         desc: str = "replay", backfill: bool = False) -> dict[str, int]:
    """Produce ``lines`` in order, paced by event time at ``speed`` (0: at once), with a
    progress bar; the count sent per topic. A ``backfill`` is marked as such
    (:data:`streams.schema.BACKFILL_HEADER`): the worker applies it however old, into a
    pipeline whose live traffic is newer."""
    headers = [(BACKFILL_HEADER, b"1")] if backfill else None
    from tqdm import tqdm

    sent: dict[str, int] = {}
    started = time.time()
    first_t: int | None = None
    with tqdm(total=total, unit="ev", desc=desc) as bar:
        for line in lines:
            bar.update(1)
            if speed > 0 and line.t_ms is not None:
                first_t = line.t_ms if first_t is None else first_t
                delay = started + (line.t_ms - first_t) / 1000.0 / speed - time.time()
                if delay > 0:
                    time.sleep(delay)
            producer.send(line.topic, key=line.key, value=line.raw, headers=headers)
            sent[line.topic] = sent.get(line.topic, 0) + 1
    return sent


def events_as_lines(events: list[dict[str, Any]], topics: InputTopics) -> list[Line]:
    """Schema v1 events (an import) as a history in event-time order, routed as a replay
    routes them."""
    raw = [json.dumps(e).encode() for e in events]
    times = [time_of(ln) for ln in raw]
    seen: dict[str, str] = {}
    out = []
    for i in time_order(times):
        cid = str(events[i]["conversation_id"])
        out.append(Line(times[i], topics.of(str(events[i]["type"]), cid, seen), cid.encode(),
                        raw[i]))
    return out
