"""The normalized event that the windows consume.

Validation of raw Kafka bytes into this shape lives in :mod:`streams.schema`; the
windows only ever see events that already passed it. Times are integer
milliseconds since the epoch so that every duration and sum is exact integer
arithmetic (no float drift when a retraction subtracts what an earlier batch added).
"""

from __future__ import annotations

DIMENSIONS: tuple[str, ...] = ("channel", "queue", "team", "priority")

# Label values with a meaning of their own on /metrics: ``all`` (the dimension is
# aggregated), ``other`` (past the value cap or the series budget), ``unknown`` (the event
# did not say). A helpdesk value spelled like one of them is exported with a leading
# underscore (``_all``), so it can never collide with them.
ALL = "all"
OTHER = "other"
UNKNOWN = "unknown"
RESERVED_VALUES = frozenset({ALL, OTHER, UNKNOWN})


def escape_reserved(value: str) -> str:
    """A dimension value from the data, safe as a label value (see RESERVED_VALUES)."""
    return "_" + value if value in RESERVED_VALUES else value

TICKET_TYPES = frozenset(
    {
        "ticket.created",
        "ticket.assigned",
        "ticket.message",
        "ticket.escalated",
        "ticket.solved",
        "ticket.reopened",
        "ticket.closed",
        "ticket.status_changed",  # schema v1.1
    }
)
CHAT_TYPES = frozenset(
    {"chat.started", "chat.message", "chat.handoff", "chat.transferred", "chat.ended"}
)
SURVEY_TYPES = frozenset({"survey.csat", "survey.nps", "survey.ces"})
EVENT_TYPES = TICKET_TYPES | CHAT_TYPES | SURVEY_TYPES

# The event types' codes in stored conversation states: append only, a stored state
# outlives a release
TYPES_BY_CODE: tuple[str, ...] = (
    "ticket.created", "ticket.assigned", "ticket.message", "ticket.escalated",
    "ticket.solved", "ticket.reopened", "ticket.closed", "ticket.status_changed",
    "chat.started", "chat.message", "chat.handoff", "chat.transferred", "chat.ended",
    "survey.csat", "survey.nps", "survey.ces",
)
TYPE_CODES: dict[str, int] = {t: i for i, t in enumerate(TYPES_BY_CODE)}

START_TYPES = frozenset({"ticket.created", "chat.started"})
MESSAGE_TYPES = frozenset({"ticket.message", "chat.message"})
COMPLETE_TYPES = frozenset({"ticket.solved", "chat.ended"})
HANDOFF = "chat.handoff"
# Escalations to another tier or team. A bot-to-human handoff is the normal path of a
# chat: it never breaks first contact resolution, and it counts as an escalation only
# when SUPPORT_ESCALATION_INCLUDES_HANDOFFS says so (KpiConfig.escalation_types).
TIER_ESCALATION_TYPES = frozenset({"ticket.escalated", "chat.transferred"})
FCR_BREAKING_TYPES = TIER_ESCALATION_TYPES
ACTORS = frozenset({"agent", "customer", "bot", "system"})

# Schema v1.1: ``ticket.status_changed`` carries one of these. ``pending`` waits on the
# customer and pauses the SLA policies' next-reply and resolution clocks (Zendesk's
# "requester wait" excludes it); ``on_hold`` (waiting on a third party) and ``open`` run.
STATUS_CHANGED = "ticket.status_changed"
STATUSES = ("open", "pending", "on_hold")
PAUSING_STATUSES = frozenset({"pending"})

# Tie-break for events with the same occurred_at, so that every arrival order sorts
# to the same sequence (a created and a reply in the same millisecond: created first).
TYPE_RANK: dict[str, int] = {
    "ticket.created": 0,
    "chat.started": 0,
    "ticket.assigned": 1,
    "chat.handoff": 2,
    "chat.transferred": 2,
    "ticket.escalated": 2,
    "ticket.message": 3,
    "chat.message": 3,
    "ticket.status_changed": 3,
    "ticket.solved": 4,
    "chat.ended": 4,
    "ticket.reopened": 5,
    "ticket.closed": 6,
    "survey.csat": 7,
    "survey.nps": 7,
    "survey.ces": 7,
}


class Event:
    """One validated support event (treated as immutable).

    A plain class, not a frozen dataclass: compiled (setup.py), a frozen dataclass keeps an
    interpreted ``__init__`` that sets each field through ``object.__setattr__``, and one is
    built per event. Its sort key is computed once: sorting a conversation asks for it per
    comparison pass."""

    __slots__ = (
        "_key",
        "actor",
        "agent_id",
        "channel",
        "conversation_id",
        "customer",
        "event_id",
        "priority",
        "queue",
        "score",
        "status",
        "t_ms",
        "team",
        "type",
    )

    def __init__(self, event_id: str, type: str, t_ms: int, conversation_id: str,
                 channel: str | None = None, queue: str | None = None,
                 team: str | None = None, priority: str | None = None,
                 actor: str | None = None, agent_id: str | None = None,
                 score: float | None = None, status: str | None = None,
                 customer: str | None = None) -> None:
        self.event_id = event_id
        self.type = type
        self.t_ms = t_ms
        self.conversation_id = conversation_id
        self.channel = channel
        self.queue = queue
        self.team = team
        self.priority = priority
        self.actor = actor
        self.agent_id = agent_id
        self.score = score
        self.status = status  # ticket.status_changed only (schema v1.1)
        # the keyed hash of the event's customer_id (schema v1.2), never the id itself
        self.customer = customer
        self._key = (t_ms, TYPE_RANK.get(type, 9), event_id)

    def _fields(self) -> tuple[object, ...]:
        return (self.event_id, self.type, self.t_ms, self.conversation_id, self.channel,
                self.queue, self.team, self.priority, self.actor, self.agent_id, self.score,
                self.status, self.customer)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Event) and self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(self._fields())

    def __repr__(self) -> str:
        names = ("event_id", "type", "t_ms", "conversation_id", "channel", "queue", "team",
                 "priority", "actor", "agent_id", "score", "status", "customer")
        return "Event(" + ", ".join(f"{n}={v!r}" for n, v in zip(names, self._fields(),
                                                                   strict=True)) + ")"

    def sort_key(self) -> tuple[int, int, str]:
        return self._key

    def to_compact(self, base_ms: int = 0) -> list[object]:
        """The compact row stored in a conversation's state in Redis: the type as its code
        (:data:`TYPE_CODES`), the time relative to ``base_ms`` (the state's first event),
        and no trailing empty fields (most events say only who spoke)."""
        row: list[object] = [self.event_id, TYPE_CODES[self.type], self.t_ms - base_ms,
                             self.channel, self.queue, self.team, self.priority, self.actor,
                             self.score, self.agent_id, self.status, self.customer]
        while row[-1] is None:
            row.pop()
        return row

    @classmethod
    def from_compact(cls, conversation_id: str, row: list[object], base_ms: int = 0) -> Event:
        padded = [*row, *((None,) * (12 - len(row)))]
        eid, typ, t, ch, q, tm, pr, actor, score, agent, status, customer = padded[:12]
        return cls(
            event_id=str(eid),
            type=TYPES_BY_CODE[typ] if isinstance(typ, int) else str(typ),
            t_ms=base_ms + int(t),  # type: ignore[call-overload]
            conversation_id=conversation_id,
            channel=ch,  # type: ignore[arg-type]
            queue=q,  # type: ignore[arg-type]
            team=tm,  # type: ignore[arg-type]
            priority=pr,  # type: ignore[arg-type]
            actor=actor,  # type: ignore[arg-type]
            score=score,  # type: ignore[arg-type]
            agent_id=agent,  # type: ignore[arg-type]
            status=status,  # type: ignore[arg-type]
            customer=customer,  # type: ignore[arg-type]
        )
