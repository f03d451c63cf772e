"""Plain configuration of the stream side, handed down by the composition root.

``streams`` never reads the environment or the settings object: the worker builds a
:class:`StreamConfig` from the settings and passes it in, so the Faust app, the topic
check and the tests all configure the stream the same way.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from connectors.base import Context
from kpi.config import KpiConfig
from streams.replay_point import ReplayPoint
from streams.schema import SchemaConfig


@dataclass(frozen=True)
class KafkaAccess:
    """Where the broker is and how to authenticate to it, for Faust and kafka-python."""

    bootstrap: str
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str = "SCRAM-SHA-512"
    username: str | None = None
    password: str | None = field(default=None, repr=False)  # never in a repr or a log
    ssl_cafile: str | None = None

    def kafka_python_options(self) -> dict[str, Any]:
        """Security options for kafka-python clients (admin, offsets, producers)."""
        opts: dict[str, Any] = {"security_protocol": self.security_protocol}
        if self.security_protocol.startswith("SASL_"):
            opts |= {"sasl_mechanism": self.sasl_mechanism,
                     "sasl_plain_username": self.username,
                     "sasl_plain_password": self.password}
        if self.security_protocol in ("SSL", "SASL_SSL") and self.ssl_cafile:
            opts["ssl_cafile"] = self.ssl_cafile
        return opts

    def faust_credentials(self) -> Any:
        """Faust's credentials for the protocol (None for PLAINTEXT)."""
        import faust

        context = None
        if self.security_protocol in ("SSL", "SASL_SSL"):
            context = ssl.create_default_context(cafile=self.ssl_cafile)
        if self.security_protocol.startswith("SASL_"):
            return faust.SASLCredentials(username=self.username, password=self.password,
                                         mechanism=self.sasl_mechanism, ssl_context=context)
        if self.security_protocol == "SSL":
            return faust.SSLCredentials(context)
        return None


@dataclass(frozen=True)
class MemoryPlan:
    """How much a worker holds at once, so that its memory fits a budget
    (``SUPPORT_MEMORY_BUDGET_MB``, sized by :func:`memory_plan`): records fetched and
    buffered before their batch, the fetched lists one take joins, and the conversations
    whose computed view it keeps (windows.writer)."""

    view_cache: int = 40_000  # conversations
    buffered_fetches: int = 8  # fetched record lists a stream buffer holds (per topic)
    coalesce_fetches: int = 4  # full fetches' worth of records one take joins
    fetch_records: int = 8_000  # records one fetch returns at most

    @property
    def take_records(self) -> int:
        """Records one take holds at most: ``coalesce_fetches`` full fetches' worth (a take
        counts records, not lists: streams.take)."""
        return self.coalesce_fetches * self.fetch_records

    @property
    def take_lists(self) -> int:
        """Fetched lists one take joins at most: at a live rate, ``batch_within``'s worth of
        small fetches from every partition of the topic."""
        return TAKE_LISTS


# a live stream's fetches return every FETCH_MAX_WAIT_MS (50 ms) for each of a topic's
# partitions: 0.2 s of 16 partitions' is 64 lists
TAKE_LISTS = 64

# What the budget pays for before anything is buffered or cached: the interpreter, Faust,
# aiokafka and the libraries, the HTTP read side and a wall process' share (measured idle:
# docs/benchmarks.md, "Worker memory"), and a batch of each agent being applied.
BASE_MB = 200
# a cached conversation view (events, ids, contribution, live state; tracemalloc) and a
# buffered record (the raw bytes, its tuple, and what validation makes of it), with margin
VIEW_BYTES = 3_500
RECORD_BYTES = 1_500


def memory_plan(budget_mb: int, batch_max: int) -> MemoryPlan:
    """The sizes that keep a worker within ``budget_mb``: what is left after the base
    goes half to the view cache and half to records in flight (two agents, each with a
    stream buffer and a take of fetched lists of at most two batches each)."""
    spare = max(0, budget_mb - BASE_MB) * 1024 * 1024
    fetch = 2 * batch_max
    lists = max(2, int(spare / 2 / RECORD_BYTES / fetch / 2))  # per agent: buffer + take
    coalesce = max(1, min(8, lists // 3))
    return MemoryPlan(view_cache=max(1_000, int(spare / 2 / VIEW_BYTES)),
                      buffered_fetches=max(1, min(16, lists - coalesce)),
                      coalesce_fetches=coalesce, fetch_records=fetch)


@dataclass(frozen=True)
class StreamConfig:
    """Everything the Faust app, its agents and its timers need."""

    app_id: str
    kafka: KafkaAccess
    redis_url: str
    key_prefix: str
    topic_tickets: str
    topic_chats: str
    topic_dlq: str
    topic_alerts: str
    topic_marks: str  # the store's applied offsets, marked outside it (streams.marks)
    kpi: KpiConfig
    schema: SchemaConfig
    redis_options: Mapping[str, Any] = field(default_factory=dict)
    topic_partitions: int = 4
    data_dir: Path = Path(".cache/faust")
    session_timeout: float = 10.0
    batch_max: int = 4000
    batch_within: float = 0.2
    memory: MemoryPlan = field(default_factory=MemoryPlan)
    replay_point: ReplayPoint = field(default_factory=lambda: ReplayPoint("earliest"))
    liveness_timeout: float = 120.0
    test_crash_at: str = ""  # test-only fault injection (streams.faults)
    # (vendor, raw topic) of each helpdesk connector whose payloads the worker normalizes,
    # and what each vendor's mapping needs besides a payload (account, queue names)
    connectors: tuple[tuple[str, str], ...] = ()
    contexts: Mapping[str, Context] = field(default_factory=dict)
    # the repartition topic of the customer path, partitioned by the customer hash; "" when the
    # customer KPIs are off (streams.customers)
    topic_customers: str = ""
    # which agents this process runs: "all" (the input topics' and, with the customer KPIs,
    # the customers topic's), "main" (the input topics' and the connectors': the worker
    # whose customers agent runs in a process of its own) or "customers" (that process)
    role: str = "all"
    # the agents topic (schema v1.3, keyed by agent); "" when the agents path is off
    topic_agents: str = ""

    @property
    def input_topics(self) -> tuple[str, str]:
        return (self.topic_tickets, self.topic_chats)

    @property
    def applied_topics(self) -> tuple[str, ...]:
        """Every topic whose batches are applied to the store with an offset watermark:
        the input topics, the agents topic, and the customers topic when the customer KPIs
        are on."""
        return self.input_topics + tuple(t for t in (self.topic_agents, self.topic_customers)
                                         if t)

    @property
    def consumed_topics(self) -> tuple[str, ...]:
        """The applied topics this process consumes (its ``role``)."""
        if self.role == "customers":
            return (self.topic_customers,)
        if self.role == "main":
            return self.input_topics + ((self.topic_agents,) if self.topic_agents else ())
        return self.applied_topics

    @property
    def app_name(self) -> str:
        """The Faust app id, so the consumer group: the customers process is a group of its
        own (its members share the customers topic's partitions)."""
        return f"{self.app_id}-customers" if self.role == "customers" else self.app_id
