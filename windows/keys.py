"""The one place that builds Redis key names.

Layout (documented in docs/architecture.md): what one Kafka partition's batch writes
carries that partition number's hash tag ``{<prefix>|p<N>}``, so the batch script touches
keys of one Redis Cluster slot, and a cluster spreads the partitions over its masters. The
input topics are co-partitioned (same partition count, keyed by conversation id), so a
conversation's ticket, chat and survey events share partition number N and one state,
whichever topic each came on. What the whole store shares carries the prefix's tag
``{<prefix>}``: the epoch, its description, the partitions registry, the admitted
dimension values and the alert states. The read side merges the partitions. A single
Redis and a cluster hold the same keys.
"""

from __future__ import annotations


class Keys:
    """Key names of one store (``prefix``); ``partition`` scopes them to one partition
    number (:meth:`of`), and the partition's keys can only be built from a scoped instance.

    A plain class, compiled with the per-event path (setup.py): a batch builds tens of
    thousands of key names, and a frozen dataclass' methods would run interpreted."""

    __slots__ = ("_tag", "partition", "prefix")

    def __init__(self, prefix: str = "support", partition: str = "") -> None:
        self.prefix = prefix
        self.partition = partition  # the partition number; "" for the store's shared keys
        # the hash tag, built once
        self._tag = "{" + prefix + ("|p" + partition if partition else "") + "}"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Keys) and (self.prefix, self.partition) == (
            other.prefix, other.partition)

    def __hash__(self) -> int:
        return hash((self.prefix, self.partition))

    def __repr__(self) -> str:
        return f"Keys(prefix={self.prefix!r}, partition={self.partition!r})"

    def of(self, pfield: str) -> Keys:
        """The keys of ``pfield`` (``"<topic>:<partition>"``): its partition number's, which
        the same partition of the other input topic shares."""
        return Keys(self.prefix, pfield.rsplit(":", 1)[-1])

    @property
    def tag(self) -> str:
        """The hash tag of this scope: the store's, or its partition number's."""
        return self._tag

    @property
    def shared_tag(self) -> str:
        return "{" + self.prefix + "}"

    @property
    def partition_patterns(self) -> tuple[str, ...]:
        """SCAN patterns of every key of the store (the partitions', then the shared)."""
        return ("{" + self.prefix + "|*}:*", self.shared_tag + ":*")

    def _scoped(self) -> str:
        if not self.partition:
            raise ValueError("a partition key needs Keys.of(<topic>:<partition>)")
        return self._tag

    # -- what one partition's batch writes (its own slot) -------------------------------

    def conversation(self, conversation_id: str) -> str:
        return f"{self._scoped()}:c:{conversation_id}"

    def customer(self, customer_hash: str) -> str:
        """A customer's contacts (kpi.customers), written by the customers topic's
        partition of this number: the keyed hash, never a customer id."""
        return f"{self._scoped()}:u:{customer_hash}"

    def agent(self, agent_id: str) -> str:
        """An agent's recent events (kpi.agents), written by the agents topic's partition
        of this number."""
        return f"{self._scoped()}:ag:{agent_id}"

    @property
    def agents(self) -> str:
        """The partition's agents (sorted set, scored by their last write's wall ms): what
        the read side reads every agent of."""
        return f"{self._scoped()}:agents"

    def bucket(self, bucket_ms: int, start_ms: int) -> str:
        return f"{self._scoped()}:b:{bucket_ms}:{start_ms}"

    @property
    def offsets(self) -> str:
        """Hash ``<topic>:<partition>`` → last offset applied to the windows."""
        return f"{self._scoped()}:offsets"

    @property
    def event_watermarks(self) -> str:
        """Hash ``<topic>:<partition>`` → highest accepted ``occurred_at`` (ms)."""
        return f"{self._scoped()}:ewm"

    @property
    def applied_at(self) -> str:
        """Hash ``<topic>:<partition>`` → wall-clock ms of the last batch applied from it:
        with :attr:`event_watermarks`, each input's own event clock (the read side's low
        watermark during a replay)."""
        return f"{self._scoped()}:applied"

    @property
    def stats(self) -> str:
        """Hash of pipeline counters, written in the same script as the windows."""
        return f"{self._scoped()}:stats"

    @property
    def epoch(self) -> str:
        """Id of this incarnation of the store, created by the first worker to open it.
        The partition's copy sits in its slot, where every batch script checks it: a
        flushed or restarted-empty node has none (or a newer one), and writing on top of
        that would count from zero unnoticed."""
        return f"{self.tag}:epoch"

    @property
    def live(self) -> str:
        """Sorted set: conversations with state, scored by the wall-clock time of their last
        write (their state expires conversation TTL after it): what expiry undoes."""
        return f"{self._scoped()}:live"

    @property
    def live_dims(self) -> str:
        """Hash conversation id → what it adds to the live gauges (JSON), kept so that the
        count can be undone after the conversation's own state has expired."""
        return f"{self._scoped()}:livedims"

    @property
    def open_counts(self) -> str:
        """Hash gauge dimension key → open conversations now."""
        return f"{self._scoped()}:open"

    def waiting(self, dimkey: str) -> str:
        """Sorted set: conversations waiting for a first human reply, scored by since (ms)."""
        return f"{self._scoped()}:wait:{dimkey}"

    def due(self, dimkey: str) -> str:
        """Sorted set: conversations with an SLA target running, scored by its deadline
        (ms): the first-response target of waiting ones, or their SLA policy's earliest."""
        return f"{self._scoped()}:due:{dimkey}"

    def running(self, target: str) -> str:
        """Hash gauge dimension key → open conversations whose SLA policy ``target``
        (first_reply, next_reply, resolution) has its clock running now."""
        return f"{self._scoped()}:run:{target}"

    @property
    def gauge_dims(self) -> str:
        """Set of gauge dimension keys ever written (what the reader iterates)."""
        return f"{self._scoped()}:gdims"

    @property
    def known_counts(self) -> str:
        """Hash gauge dimension key → conversations with state whose labels give it. A key
        with any is live: its gauges read 0 when its queue is empty (derived from the
        conversations' current labels, so it does not depend on arrival order)."""
        return f"{self._scoped()}:known"

    # -- what the whole store shares (the prefix's slot) --------------------------------

    @property
    def partitions(self) -> str:
        """Hash ``<topic>:<partition>`` → the epoch in which that partition was first
        written: what the read side merges, and how a partition whose node lost its data
        is told from one never written."""
        return f"{self.shared_tag}:parts"

    @property
    def store_info(self) -> str:
        """Hash describing the epoch: when it began, where its replay started, and
        ``lost_before_ms`` (events before it may be missing; 0 = nothing missing)."""
        return f"{self.shared_tag}:store"

    def dimension_values(self, dimension: str) -> str:
        """Set of the values of a dimension stored under their own label (the store's
        guard against a label flood, store-wide; past it: ``other`` at write)."""
        return f"{self.shared_tag}:dimvals:{dimension}"

    def first_seen(self, dimension: str) -> str:
        """Hash value → the earliest first event time (ms) of a conversation carrying it:
        the read side labels the ``max_dimension_values`` earliest, so which values get
        their own row is a function of the events, not of which partition ran first."""
        return f"{self.shared_tag}:firstseen:{dimension}"

    @property
    def alert_states(self) -> str:
        """Hash ``<rule>|<dimkey>`` → alert state JSON (survives restarts)."""
        return f"{self.shared_tag}:alerts"

    @property
    def alert_lease(self) -> str:
        """Who evaluates alerts: one worker at a time holds this lease."""
        return f"{self.shared_tag}:alerts:lease"

    @staticmethod
    def partition_field(topic: str, partition: int) -> str:
        return f"{topic}:{partition}"
