"""Zendesk webhooks → schema v1: event-subscribed webhooks (``zen:event-type:ticket.*`` and
messaging) and trigger webhooks (a trigger's custom JSON body).

An event webhook's envelope (https://developer.zendesk.com/api-reference/webhooks/
event-types/webhook-event-types/): ``id`` (the event's own id), ``type``, ``time``,
``account_id``, ``subject`` (``zen:ticket:<id>``), ``detail`` (the ticket: group_id,
priority, via.channel, status; ids as strings, status in capitals) and ``event`` (what
changed). A trigger's body is whatever the admin wrote: it maps when it says what happened
(``kpi_event``) with the placeholders docs/connectors.md gives, and is refused otherwise
with what to add, since a body without them cannot tell a creation from a comment.

Ids are those the export has too, so history imported over live webhooks counts once: a
ticket is ``zendesk:<ticket id>``, a comment ``…:comment:<comment id>``, a status change
``…:status:<status>:<second>``, a creation ``…:created``; its queue is its group by id
(``group-<id>``, or the name ``SUPPORT_QUEUES`` gives it). Its customer (schema v1.2's
``customer_id``) is the ticket's requester: ``detail.requester_id`` of an event webhook
(every ``ticket.*`` event carries it; a messaging event's skinny ``detail`` does not), a
trigger body's ``requester_id`` (``{{ticket.requester.id}}``).

Agent events (schema v1.3; docs/connectors.md#agent-events) come from the agent
availability event webhooks (``zen:event-type:agent.*``, omnichannel routing): envelope
``detail.agent_id`` (else ``subject`` ``zen:agent:<id>``), ``event.updated_at`` (else
``time``). ``agent.unified_state_changed`` is the agent's status across channels (online
available, away and transfers only away, offline offline; a custom status names no base
state and is refused); a work item added (accepted, assigned, reopened, transferred; an
offer waits for ``agent.work_item_updated`` to ACCEPTED) starts the contact on the ticket
of the work item's id, a work item removed ends it. Zendesk's webhooks have no wrap-up,
so the wrap-up ends with the contact. Per-channel states, capacity, group membership and
channel events carry no unified status, which ``agent.status_changed`` needs: skipped.
"""

from __future__ import annotations

from typing import Any

from connectors import signatures
from connectors.base import (
    Context,
    Doc,
    Vendor,
    agent_id,
    contact_done,
    contact_started,
    customer,
    event,
    iso,
    need,
    seconds,
    status_changed,
    with_customer,
)
from connectors.errors import ConnectorError

NAME = "zendesk"
PREFIX = "zen:event-type:"
CHANNEL = {"web": "web", "email": "email", "chat": "chat", "native_messaging": "chat",
           "api": "api", "voice": "voice", "mobile": "mobile", "facebook": "social",
           "twitter": "social", "whatsapp": "social", "instagram_dm": "social",
           "mail": "email", "web_form": "web", "web_service": "api", "closed_ticket": "email",
           "phone": "voice", "messaging": "chat"}
# Zendesk's good/bad satisfaction → a 1–5 CSAT score (4 and up is satisfied)
CSAT = {"good": 5, "bad": 1, "good_with_comment": 5, "bad_with_comment": 1}


def conversation_of(doc: Doc) -> str | None:
    """The ticket; an agent event's agent (``agent:<id>``), so one agent's deliveries
    stay in order."""
    if str(doc.get("type") or "").startswith(PREFIX + "agent."):
        agent = _agent_of(doc)
        return f"agent:{agent}" if agent else None
    return _ticket_id(doc)


def _ticket_id(doc: Doc) -> str | None:
    """The ticket of an event webhook (``subject``, else ``detail.id``) or of a trigger's
    body (``ticket_id``, under ``support_kpi`` in the documented body)."""
    subject = str(doc.get("subject") or "")
    if subject.startswith("zen:ticket:"):
        return subject.removeprefix("zen:ticket:")
    detail = doc.get("detail")
    if isinstance(detail, dict) and detail.get("id") not in (None, ""):
        return str(detail["id"])
    inner = doc.get("support_kpi")
    body: Doc = inner if isinstance(inner, dict) else doc
    return str(body["ticket_id"]) if body.get("ticket_id") not in (None, "") else None


def labels(fields: Doc, ctx: Context) -> dict[str, Any]:
    """Channel, queue (the group) and priority of a ticket's fields, however they come:
    ``via.channel`` or ``via`` (a name or ``{channel}``), ``group_id``, ``priority``."""
    via = fields.get("via")
    channel = (via.get("channel") if isinstance(via, dict) else via) or \
        fields.get("via.channel") or ""
    name = str(channel).lower().replace(" ", "_")
    return {"channel": CHANNEL.get(name, name),
            "queue": ctx.queue("group", fields.get("group_id"), fields.get("group")),
            "priority": str(fields.get("priority") or "").lower()}


# Zendesk statuses the v1.1 status event carries (solved, closed and reopen have events)
STATUS = {"pending": "pending", "hold": "on_hold", "open": "open"}


def status_events(current: str, previous: str, key: str, at: str) -> list[Doc]:
    """A Zendesk status change (webhook, trigger or export; any case) as schema events,
    with the id every path gives it: the status and the second it changed."""
    current, previous = current.lower(), previous.lower()
    eid = f"{key}:status:{current}:{seconds(at)}"
    if current == "solved":
        return [event(NAME, eid, "ticket.solved", key, at)]
    if current == "closed":
        return [event(NAME, eid, "ticket.closed", key, at)]
    if current == "open" and previous == "solved":
        return [event(NAME, eid, "ticket.reopened", key, at)]
    if current not in STATUS or (current == "open" and previous in ("", "new")):
        return []  # new → open is the first assignment, not a status a clock cares about
    return [event(NAME, eid, "ticket.status_changed", key, at, status=STATUS[current])]


def comment(key: str, comment_id: Any, at: str, staff: bool, author: Any) -> Doc:
    return event(NAME, f"{key}:comment:{comment_id}", "ticket.message", key, at,
                 actor="agent" if staff else "customer",
                 agent_id=str(author) if staff and author not in (None, "") else None)


def csat(key: str, score: str, at: str) -> list[Doc]:
    rating = CSAT.get(score.strip().lower())
    return [] if rating is None else [
        event(NAME, f"{key}:csat:{seconds(at)}", "survey.csat", key, at, score=rating)]


def _comment_added(doc: Doc, key: str, at: str) -> list[Doc]:
    """A public comment by staff is an agent reply, by anyone else the customer's message;
    a private comment is an internal note, not conversation."""
    c = (doc.get("event") or {}).get("comment") or {}
    if not c.get("is_public", True):
        return []
    author = c.get("author") or {}
    return [comment(key, c.get("id") or need(doc, "id", "event"), at,
                    bool(author.get("is_staff")), author.get("id"))]


def _messaging(doc: Doc, key: str, at: str) -> list[Doc]:
    """A messaging (chat) message: an end user's is the customer's, an agent's a reply,
    a trigger's or the system's (the answer bot, AI agents) the bot's."""
    ev = doc.get("event") or {}
    actor = ev.get("actor") or {}
    kind = {"end_user": "customer", "agent": "agent"}.get(str(actor.get("type")), "bot")
    mid = (ev.get("message") or {}).get("id") or need(doc, "id", "event")
    return [event(NAME, f"{key}:message:{mid}", "ticket.message", key, at, actor=kind,
                  agent_id=str(actor.get("id")) if kind == "agent" else None)]


# the unified status (across channels) → the schema's presence; "transfers_only" (Talk:
# takes transferred calls only) takes no new contact, so it is away from the queue
UNIFIED = {"online": "available", "away": "away", "transfers_only": "away",
           "offline": "offline"}
# why a work item was added that is an offer the agent has not accepted yet: the contact
# starts when it is (work_item_updated to ACCEPTED), an offer missed never starts one
OFFERS = ("OFFERED",)
WORK_CHANNEL = {"messaging": "chat", "talk": "voice"}  # "support" (tickets): via unknown


def _agent_of(doc: Doc) -> str | None:
    detail = doc.get("detail")
    agent = detail.get("agent_id") if isinstance(detail, dict) else None
    if agent in (None, ""):
        subject = str(doc.get("subject") or "")
        agent = subject.removeprefix("zen:agent:") if subject.startswith("zen:agent:") \
            else None
    return str(agent) if agent not in (None, "") else None


def _work_item(change: Doc, name: str) -> tuple[str, str, str]:
    """A work item event's ticket, channel and reason, read from ``event.work_item`` or
    ``event`` itself (``id`` or ``work_item_id``; ``channel``; ``reason``). The Agent
    Availability API's JSON:API id (``agent_availabilities|…|work_items|201``) ends with
    the ticket's id."""
    inner = change.get("work_item")
    item: Doc = inner if isinstance(inner, dict) else {}
    wid = item.get("id") or change.get("work_item_id") or item.get("ticket_id")
    if wid in (None, ""):
        raise ConnectorError("missing_field", f"{name} has no work item id (event.work_item."
                                              "id or event.work_item_id)")
    channel = str(item.get("channel") or change.get("channel") or "").lower()
    reason = str(item.get("reason") or change.get("reason") or "").upper()
    return str(wid).rsplit("|", 1)[-1], channel, reason


def _agent_webhook(doc: Doc, ctx: Context, name: str) -> list[Doc]:
    """An agent availability event webhook as schema v1.3 agent events."""
    ctx.check_account(doc.get("account_id"), "the Zendesk event")
    agent = agent_id(_agent_of(doc), f"{name} (detail.agent_id)")
    change: Doc = doc["event"] if isinstance(doc.get("event"), dict) else {}
    at = iso(change.get("updated_at") or doc.get("time"), name)
    if name == "agent.unified_state_changed":
        new = change.get("new_unified_state")
        state = new.get("name") if isinstance(new, dict) else new
        if state in (None, ""):
            raise ConnectorError("missing_field", f"{name} has no event.new_unified_state")
        status = UNIFIED.get(str(state).lower())
        if status is None:
            raise ConnectorError(
                "unknown_payload", f"Zendesk unified status {state!r} is an account's own "
                "status: the event names it, not whether the agent takes contacts "
                "(docs/connectors.md#agent-events)")
        return [status_changed(NAME, f"{ctx.key('agent')}:{agent}:status:{status}:"
                                     f"{seconds(at)}", agent, at, status)]
    if name not in ("agent.work_item_added", "agent.work_item_updated",
                    "agent.work_item_removed"):
        return []  # per-channel states, capacity, groups, channels: no unified status
    ticket, channel, reason = _work_item(change, name)
    key = ctx.key(ticket)
    eid = f"{key}:agent:{agent}:{seconds(at)}"
    if name == "agent.work_item_removed":
        return contact_done(NAME, eid, agent, key, at)
    if (name == "agent.work_item_added" and reason in OFFERS) or \
            (name == "agent.work_item_updated" and reason != "ACCEPTED"):
        return []
    return [contact_started(NAME, f"{eid}:started", agent, key, at,
                            WORK_CHANNEL.get(channel))]


def _event_webhook(doc: Doc, ctx: Context) -> list[Doc]:
    detail = doc.get("detail")
    requester = detail.get("requester_id") if isinstance(detail, dict) else None
    return with_customer(_event_webhook_events(doc, ctx), customer(requester))


def _event_webhook_events(doc: Doc, ctx: Context) -> list[Doc]:
    name = str(doc.get("type")).removeprefix(PREFIX)
    if name.startswith("agent."):
        return _agent_webhook(doc, ctx, name)
    ticket = _ticket_id(doc)
    if ticket is None:
        if name.startswith(("ticket.", "messaging_ticket.")):
            raise ConnectorError("missing_field", f"{name} has no ticket (subject)")
        return []  # user, organization, article events: nothing a KPI needs
    ctx.check_account(doc.get("account_id"), "the Zendesk event")
    key, at = ctx.key(ticket), iso(doc.get("time"), name)
    detail: Doc = doc["detail"] if isinstance(doc.get("detail"), dict) else {}
    change: Doc = doc["event"] if isinstance(doc.get("event"), dict) else {}
    if name == "ticket.created":
        return [event(NAME, f"{key}:created", "ticket.created", key,
                      iso(detail.get("created_at") or doc.get("time"), name),
                      **labels(detail, ctx))]
    if name == "ticket.comment_added":
        return _comment_added(doc, key, at)
    if name == "ticket.status_changed":
        return status_events(str(change.get("current") or ""),
                             str(change.get("previous") or ""), key, at)
    if name == "messaging_ticket.message_added":
        return _messaging(doc, key, at)
    if "satisfaction" in name:  # a satisfaction rating event, where the account sends one
        return csat(key, str(change.get("current") or change.get("score") or ""), at)
    return []  # priority, group, tags, ... changes: the labels stay those at creation


TRIGGER_EVENTS = ("ticket_created", "agent_reply", "customer_reply", "status_changed",
                  "csat")


def _trigger(doc: Doc, ctx: Context) -> list[Doc]:
    """A trigger's body, as docs/connectors.md gives it: ``support_kpi`` with
    ``kpi_event`` and the ticket's placeholders (times ``…_with_timestamp``; the requester
    ``{{ticket.requester.id}}``, the customer of every event it maps to)."""
    inner = doc.get("support_kpi")
    body: Doc = inner if isinstance(inner, dict) else doc
    return with_customer(_trigger_events(body, ctx), customer(body.get("requester_id")))


def _trigger_events(body: Doc, ctx: Context) -> list[Doc]:
    kind = body.get("kpi_event")
    if kind not in TRIGGER_EVENTS:
        raise ConnectorError(
            "needs_setting", "a Zendesk trigger body maps only with \"kpi_event\" (one of "
            f"{', '.join(TRIGGER_EVENTS)}), \"ticket_id\" and the time placeholders of "
            "docs/connectors.md (Zendesk, triggers); this one has "
            f"{', '.join(sorted(map(str, body)))[:200]}")
    key = ctx.key(need(body, "ticket_id", "the trigger body"))
    if kind == "ticket_created":
        at = iso(need(body, "created_at", "ticket_created"), "ticket_created")
        return [event(NAME, f"{key}:created", "ticket.created", key, at, **labels(body, ctx))]
    at = iso(body.get("updated_at") or ctx.received_at, str(kind))
    if kind in ("agent_reply", "customer_reply"):
        agent = kind == "agent_reply"
        if body.get("comment_id") not in (None, ""):  # the id the events and export give
            return [comment(key, body["comment_id"], at, agent, None)]
        return [event(NAME, f"{key}:{kind}:{seconds(at)}", "ticket.message", key, at,
                      actor="agent" if agent else "customer")]
    if kind == "csat":
        return csat(key, str(need(body, "satisfaction", "csat")), at)
    return status_events(str(need(body, "status", "status_changed")),
                         str(body.get("previous_status") or ""), key, at)


def normalize(doc: Doc, ctx: Context) -> list[Doc]:
    if str(doc.get("type") or "").startswith(PREFIX):
        return _event_webhook(doc, ctx)
    if "type" in doc and "ticket_id" not in doc and "support_kpi" not in doc:
        raise ConnectorError("unknown_payload", f"not a Zendesk webhook: type "
                                                f"{doc.get('type')!r}")
    return _trigger(doc, ctx)


VENDOR = Vendor(NAME, normalize, conversation_of, signatures.zendesk,
                "X-Zendesk-Webhook-Signature: base64(HMAC-SHA256(secret, timestamp + body))")
