"""The one place that builds Redis key names.

Layout (documented in docs/architecture.md): every key carries the same hash tag
``{<prefix>}`` so that a batch script, which touches conversation, bucket and
watermark keys together, is always inside one Redis Cluster slot. That keeps the
single-Redis deployment and a Cluster deployment identical, at the price that a
Cluster puts all of one prefix on one node (one Redis comfortably serves a support
floor; sharding by partition tag is the documented next step).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Keys:
    prefix: str = "support"

    @property
    def tag(self) -> str:
        return "{" + self.prefix + "}"

    def conversation(self, conversation_id: str) -> str:
        return f"{self.tag}:c:{conversation_id}"

    def bucket(self, bucket_ms: int, start_ms: int) -> str:
        return f"{self.tag}:b:{bucket_ms}:{start_ms}"

    @property
    def offsets(self) -> str:
        """Hash ``<topic>:<partition>`` → last offset applied to the windows."""
        return f"{self.tag}:offsets"

    @property
    def event_watermarks(self) -> str:
        """Hash ``<topic>:<partition>`` → highest accepted ``occurred_at`` (ms)."""
        return f"{self.tag}:ewm"

    @property
    def stats(self) -> str:
        """Hash of pipeline counters, written in the same script as the windows."""
        return f"{self.tag}:stats"

    @property
    def epoch(self) -> str:
        """Id of this incarnation of the store, created by the first worker to open it.
        Every batch script checks it: a flushed or restarted-empty Redis has none (or a
        newer one), and writing on top of that would count from zero unnoticed."""
        return f"{self.tag}:epoch"

    @property
    def store_info(self) -> str:
        """Hash describing the epoch: when it began, where its replay started, and
        ``lost_before_ms`` (events before it may be missing; 0 = nothing missing)."""
        return f"{self.tag}:store"

    @property
    def live(self) -> str:
        """Sorted set: conversations with state, scored by the wall-clock time of their last
        write (their state expires conversation TTL after it): what expiry undoes."""
        return f"{self.tag}:live"

    @property
    def live_dims(self) -> str:
        """Hash conversation id → what it adds to the live gauges (JSON), kept so that the
        count can be undone after the conversation's own state has expired."""
        return f"{self.tag}:livedims"

    @property
    def open_counts(self) -> str:
        """Hash gauge dimension key → open conversations now."""
        return f"{self.tag}:open"

    def waiting(self, dimkey: str) -> str:
        """Sorted set: conversations waiting for a first human reply, scored by since (ms)."""
        return f"{self.tag}:wait:{dimkey}"

    def due(self, dimkey: str) -> str:
        """Sorted set: the same conversations scored by their first-response deadline (ms)."""
        return f"{self.tag}:due:{dimkey}"

    @property
    def gauge_dims(self) -> str:
        """Set of gauge dimension keys ever written (what the reader iterates)."""
        return f"{self.tag}:gdims"

    @property
    def known_counts(self) -> str:
        """Hash gauge dimension key → conversations with state whose labels give it. A key
        with any is live: its gauges read 0 when its queue is empty (derived from the
        conversations' current labels, so it does not depend on arrival order)."""
        return f"{self.tag}:known"

    def dimension_values(self, dimension: str) -> str:
        """Set of admitted values of a dimension (the cardinality cap)."""
        return f"{self.tag}:dimvals:{dimension}"

    @property
    def alert_states(self) -> str:
        """Hash ``<rule>|<dimkey>`` → alert state JSON (survives restarts)."""
        return f"{self.tag}:alerts"

    @property
    def alert_lease(self) -> str:
        """Who evaluates alerts: one worker at a time holds this lease."""
        return f"{self.tag}:alerts:lease"

    @staticmethod
    def partition_field(topic: str, partition: int) -> str:
        return f"{topic}:{partition}"
