"""Hand-worked conversations and what each selectable definition makes of them
(docs/kpis.md, "Definitions you can choose"). Shared by the unit tests of the arithmetic
and the oracle and by the integration test through Redis, /metrics and ``query``.

Targets: first response 120 s, short abandon 10 s. Times in seconds from the start.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kpi.config import CONVERSATION_FCR_DEFINITIONS, SERVICE_LEVEL_DEFINITIONS

Step = tuple[str, float, dict[str, object]]  # type, seconds, extra fields


@dataclass(frozen=True)
class Case:
    name: str
    steps: tuple[Step, ...]
    # per FCR definition: (FCR denominator, resolved at first contact)
    fcr: dict[str, tuple[int, int]]
    # per service-level definition: (samples, within target)
    sla: dict[str, tuple[int, int]]
    counts: dict[str, int] = field(default_factory=dict)  # other row keys, any definition


def _same(value: tuple[int, int], names: tuple[str, ...]) -> dict[str, tuple[int, int]]:
    return dict.fromkeys(names, value)


AGENT = {"actor": "agent", "agent_id": "a1"}
OTHER_AGENT = {"actor": "agent", "agent_id": "a2"}
CUSTOMER = {"actor": "customer"}
BOT = {"actor": "bot"}

CASES: tuple[Case, ...] = (
    Case("abandoned call: queued, hung up after 5 minutes, nobody answered",
         (("ticket.created", 0, {"channel": "voice"}), ("ticket.solved", 300, {})),
         fcr=_same((0, 0), CONVERSATION_FCR_DEFINITIONS),
         sla={"first_response": (0, 0), "amazon_connect": (1, 0), "talkdesk": (1, 0)},
         counts={"abandoned": 1, "queued": 1, "completed": 1, "bot_contained": 0}),
    Case("short abandon: handed off, left the queue after 5 s",
         (("chat.started", 0, {}), ("chat.handoff", 10, {}), ("chat.ended", 15, {})),
         fcr=_same((0, 0), CONVERSATION_FCR_DEFINITIONS),
         sla={"first_response": (0, 0), "amazon_connect": (1, 1), "talkdesk": (0, 0)},
         counts={"abandoned": 1, "handoffs": 1, "chats_completed": 1, "bot_contained": 0}),
    Case("bot-contained chat: the bot answered, no handoff",
         (("chat.started", 0, {}), ("chat.message", 2, CUSTOMER), ("chat.message", 5, BOT),
          ("chat.ended", 60, {})),
         fcr=_same((0, 0), CONVERSATION_FCR_DEFINITIONS),
         sla=_same((0, 0), SERVICE_LEVEL_DEFINITIONS),
         counts={"abandoned": 0, "queued": 0, "chats_completed": 1, "bot_contained": 1}),
    Case("handoff, then one agent reply: resolved",
         (("chat.started", 0, {}), ("chat.message", 5, BOT), ("chat.handoff", 20, {}),
          ("chat.message", 50, AGENT), ("chat.ended", 90, {})),
         fcr=_same((1, 1), CONVERSATION_FCR_DEFINITIONS),
         sla=_same((1, 1), SERVICE_LEVEL_DEFINITIONS),
         counts={"handoffs": 1, "escalated_completed": 0, "bot_contained": 0}),
    Case("slow bot: handoff after 100 s, answered 100 s later",
         (("chat.started", 0, {}), ("chat.handoff", 100, {}), ("chat.message", 200, AGENT),
          ("chat.ended", 230, {})),
         fcr=_same((1, 1), CONVERSATION_FCR_DEFINITIONS),
         # first response counts the bot's 100 s (200 s > 120 s); the queue waits 100 s
         sla={"first_response": (1, 0), "amazon_connect": (1, 1), "talkdesk": (1, 1)}),
    Case("escalated to tier 2, then one reply: one-touch but not this project's FCR",
         (("ticket.created", 0, {}), ("ticket.escalated", 30, {}),
          ("ticket.message", 100, OTHER_AGENT), ("ticket.solved", 200, {})),
         fcr={"project": (1, 0), "zendesk_one_touch": (1, 1), "intercom_one_teammate": (1, 1),
              "freshservice": (1, 1)},
         sla=_same((1, 1), SERVICE_LEVEL_DEFINITIONS),
         counts={"escalated_completed": 1}),
    Case("the customer came back: one teammate, two replies",
         (("ticket.created", 0, {}), ("ticket.message", 60, AGENT),
          ("ticket.message", 120, CUSTOMER), ("ticket.message", 180, AGENT),
          ("ticket.solved", 240, {})),
         fcr={"project": (1, 0), "zendesk_one_touch": (1, 0), "intercom_one_teammate": (1, 1),
              "freshservice": (1, 0)},
         sla=_same((1, 1), SERVICE_LEVEL_DEFINITIONS)),
    Case("two teammates, the customer silent after the first reply",
         (("ticket.created", 0, {}), ("ticket.message", 60, AGENT),
          ("ticket.message", 90, OTHER_AGENT), ("ticket.solved", 100, {})),
         fcr={"project": (1, 0), "zendesk_one_touch": (1, 0), "intercom_one_teammate": (1, 0),
              "freshservice": (1, 1)},
         sla=_same((1, 1), SERVICE_LEVEL_DEFINITIONS)),
    Case("resolved by one reply, reopened a day later",
         (("ticket.created", 0, {}), ("ticket.message", 60, AGENT), ("ticket.solved", 100, {}),
          ("ticket.reopened", 86_400, {})),
         fcr={"project": (1, 0), "zendesk_one_touch": (1, 1), "intercom_one_teammate": (1, 1),
              "freshservice": (1, 1)},
         sla=_same((1, 1), SERVICE_LEVEL_DEFINITIONS),
         counts={"reopened_completed": 1, "completed": 1}),
)


def expected_row(cases: tuple[Case, ...], fcr: str, sla: str) -> dict[str, float]:
    """The window row (query JSON keys) that the cases add up to under two definitions."""
    out: dict[str, float] = {}
    for c in cases:
        d, n = c.fcr[fcr]
        out["fcr_eligible"] = out.get("fcr_eligible", 0) + d
        out["fcr_resolved"] = out.get("fcr_resolved", 0) + n
        s, ok = c.sla[sla]
        out["sla_samples"] = out.get("sla_samples", 0) + s
        out["_sla_ok"] = out.get("_sla_ok", 0) + ok
    out["frt_sla_ratio"] = out.pop("_sla_ok") / out["sla_samples"]
    out["fcr_ratio"] = out["fcr_resolved"] / out["fcr_eligible"]
    return out


def event_docs(c: Case, cid: str, t0_ms: int, queue: str = "billing") -> list[dict[str, object]]:
    """The case as wire events (the JSON the worker consumes)."""
    import datetime as dt

    out = []
    for i, (typ, t_s, extra) in enumerate(c.steps):
        t = dt.datetime.fromtimestamp((t0_ms + t_s * 1000) / 1000, dt.UTC)
        doc: dict[str, object] = {"event_id": f"{cid}-{i}", "type": typ,
                                  "conversation_id": cid,
                                  "occurred_at": t.isoformat().replace("+00:00", "Z"),
                                  **extra}
        if i == 0:
            doc.setdefault("channel", "chat" if typ.startswith("chat.") else "email")
            doc["queue"] = queue
        out.append(doc)
    return out
