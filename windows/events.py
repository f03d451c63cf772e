"""The normalized event that the windows consume.

Validation of raw Kafka bytes into this shape lives in :mod:`streams.schema`; the
windows only ever see events that already passed it. Times are integer
milliseconds since the epoch so that every duration and sum is exact integer
arithmetic (no float drift when a retraction subtracts what an earlier batch added).
"""

from __future__ import annotations

from dataclasses import dataclass

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


@dataclass(frozen=True, slots=True)
class Event:
    """One validated support event."""

    event_id: str
    type: str
    t_ms: int
    conversation_id: str
    channel: str | None = None
    queue: str | None = None
    team: str | None = None
    priority: str | None = None
    actor: str | None = None
    agent_id: str | None = None
    score: float | None = None
    status: str | None = None  # ticket.status_changed only (schema v1.1)

    def sort_key(self) -> tuple[int, int, str]:
        return (self.t_ms, TYPE_RANK.get(self.type, 9), self.event_id)

    def to_compact(self) -> list[object]:
        """Compact list form stored in the conversation state in Redis."""
        return [
            self.event_id,
            self.type,
            self.t_ms,
            self.channel,
            self.queue,
            self.team,
            self.priority,
            self.actor,
            self.score,
            self.agent_id,
            *((self.status,) if self.status is not None else ()),  # v1.1 events only
        ]

    @classmethod
    def from_compact(cls, conversation_id: str, row: list[object]) -> Event:
        eid, typ, t, ch, q, tm, pr, actor, score, agent = row[:10]
        status = row[10] if len(row) > 10 else None
        return cls(
            event_id=str(eid),
            type=str(typ),
            t_ms=int(t),  # type: ignore[call-overload]
            conversation_id=conversation_id,
            channel=ch,  # type: ignore[arg-type]
            queue=q,  # type: ignore[arg-type]
            team=tm,  # type: ignore[arg-type]
            priority=pr,  # type: ignore[arg-type]
            actor=actor,  # type: ignore[arg-type]
            score=score,  # type: ignore[arg-type]
            agent_id=agent,  # type: ignore[arg-type]
            status=status,  # type: ignore[arg-type]
        )
