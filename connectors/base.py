"""What every vendor mapping shares: reading times and ids, building schema v1 events."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from connectors.errors import ConnectorError

Doc = dict[str, Any]
# headers (lower-case names), body, now in epoch seconds → whether the signature is good
Verify = Callable[[Mapping[str, str], bytes, float], bool]


@dataclass(frozen=True)
class Context:
    """What a vendor mapping needs besides the payload, the same on the webhook path and in
    ``import``, so that both derive one identity for each conversation, event and queue:

    * ``account``: an optional namespace in the conversation ids (``SUPPORT_<VENDOR>_
      ACCOUNT``, ``import --account``), for more than one account of a vendor in one store;
      a webhook payload naming another account is refused (``wrong_account``);
    * ``queues``: queue names by the vendor's ids (``"group:360001" → "billing"``, from
      ``SUPPORT_QUEUES`` or the vendor's groups/inboxes/teams list given to ``import``); an
      id without a name is the queue ``group-360001``, whichever path saw it;
    * ``received_at``: when the intake received the delivery (epoch seconds), the time of
      an event whose body carries none (a Freshdesk rule without a time placeholder).
    """

    account: str = ""
    queues: Mapping[str, str] = field(default_factory=dict)
    received_at: float | None = None

    def key(self, conversation: Any) -> str:
        """A conversation's id after the vendor name: the vendor's own id, namespaced by the
        account when one is configured."""
        return f"{self.account}:{conversation}" if self.account else str(conversation)

    def queue(self, kind: str, vendor_id: Any, name: Any = None) -> str:
        """A queue by the vendor's id (``kind`` is ``group``, ``inbox`` or ``team``): its
        configured name, else ``<kind>-<id>``; a payload that names the queue but gives no
        id (a Freshdesk rule's ``{{ticket.group.name}}``) keeps that name."""
        if vendor_id not in (None, "", 0, "0"):
            return self.queues.get(f"{kind}:{vendor_id}") or f"{kind}-{vendor_id}"
        return str(name or "")

    def check_account(self, found: Any, where: str) -> None:
        """Refuse a payload of another account than the configured one (none configured:
        any account is this store's)."""
        if self.account and found not in (None, "") and str(found) != self.account:
            raise ConnectorError("wrong_account", f"{where} is of account {found}, not "
                                                  f"{self.account} (SUPPORT_<VENDOR>_ACCOUNT)")


NO_CONTEXT = Context()


def seconds(at: str) -> str:
    """An RFC 3339 time cut to the second: the part of an event id that names a moment the
    webhook and the export both know (one says ``...:10.631Z``, the other ``...:10Z``)."""
    return at[:19] + "Z"


@dataclass(frozen=True)
class Vendor:
    """One helpdesk: how its payloads map, which conversation a payload is about (the
    Kafka key of its raw topic, so one conversation stays in order), and its signature."""

    name: str
    normalize: Callable[[Doc, Context], list[Doc]]
    conversation_of: Callable[[Doc], str | None]
    # secret → a verifier for the vendor's signing scheme
    verifier: Callable[[str], Verify]
    signature: str  # how the vendor signs, for the docs and errors
    topic: str = "tickets"  # where its surveys go: "tickets" or "chats"


def load(body: bytes) -> Doc:
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise ConnectorError("not_json", f"body is not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise ConnectorError("not_json", f"body is a JSON {type(doc).__name__}, not an object")
    return doc


def iso(value: Any, what: str) -> str:
    """A vendor time (epoch seconds, RFC 3339, or ``2020-03-03 13:05:57 UTC``) as RFC 3339."""
    if value is None or value == "":
        raise ConnectorError("missing_field", f"{what} has no time")
    try:
        if isinstance(value, int | float) and not isinstance(value, bool):
            t = dt.datetime.fromtimestamp(float(value), dt.UTC)
        else:
            text = str(value).strip().replace(" UTC", "+00:00").replace("Z", "+00:00")
            t = dt.datetime.fromisoformat(text.replace(" ", "T", 1) if "T" not in text
                                          else text)
            t = t if t.tzinfo else t.replace(tzinfo=dt.UTC)
    except (ValueError, OverflowError, OSError) as exc:
        raise ConnectorError("bad_timestamp", f"{what}: {value!r}: {exc}") from None
    return t.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def need(doc: Mapping[str, Any], key: str, what: str) -> Any:
    v = doc.get(key)
    if v is None or v == "":
        raise ConnectorError("missing_field", f"{what} has no {key}")
    return v


def event(vendor: str, event_id: str, typ: str, conversation: str, occurred_at: str,
          **fields: Any) -> Doc:
    """A schema v1 event; ids carry the vendor's own ids, so a retry or a re-import of the
    same vendor event is a duplicate, not a new event. Empty labels are left out."""
    return {"event_id": f"{vendor}:{event_id}", "type": typ,
            "conversation_id": f"{vendor}:{conversation}", "occurred_at": occurred_at,
            **{k: v for k, v in fields.items() if v not in (None, "")}}


# Schema v1.3's agent events (docs/schema.md "v1.3: agents"): what each vendor maps to them
# is in docs/connectors.md#agent-events
STATUS_CHANGED = "agent.status_changed"
CONTACT_STARTED = "agent.contact_started"
CONTACT_ENDED = "agent.contact_ended"
WRAPUP_ENDED = "agent.wrapup_ended"
PRESENCES = ("available", "busy", "after_contact_work", "away", "offline")


def is_agent_event(doc: Mapping[str, Any]) -> bool:
    """An agent event (the agents topic, keyed by ``agent_id``), not a conversation's."""
    return str(doc.get("type") or "").startswith("agent.")


def agent_id(value: Any, what: str) -> str:
    """The helpdesk's own id of an agent (user, teammate, admin), as a string; a payload
    that names none cannot be mapped (``missing_field``)."""
    if isinstance(value, bool) or value is None or str(value).strip() in ("", "0"):
        raise ConnectorError("missing_field", f"{what} names no agent")
    return str(value).strip()


def agent_event(vendor: str, event_id: str, typ: str, agent: str, occurred_at: str,
                conversation: str | None = None, **fields: Any) -> Doc:
    """A schema v1.3 agent event. Like :func:`event`, its id carries the vendor's own ids
    and times, so a redelivery is a duplicate; only the three contact types name the
    conversation (``<vendor>:<conversation>``, the id its conversation events carry).
    Empty labels and an empty ``queues`` are left out (absent keeps the last known)."""
    doc: Doc = {"event_id": f"{vendor}:{event_id}", "type": typ, "agent_id": agent,
                "occurred_at": occurred_at}
    if conversation is not None:
        doc["conversation_id"] = f"{vendor}:{conversation}"
    return {**doc, **{k: v for k, v in fields.items() if v not in (None, "", [])}}


def status_changed(vendor: str, event_id: str, agent: str, at: str, status: str,
                   **fields: Any) -> Doc:
    assert status in PRESENCES, status
    return agent_event(vendor, event_id, STATUS_CHANGED, agent, at, status=status, **fields)


def contact_started(vendor: str, event_id: str, agent: str, conversation: str, at: str,
                    channel: str | None = None, queue: str | None = None) -> Doc:
    return agent_event(vendor, event_id, CONTACT_STARTED, agent, at, conversation,
                       channel=channel, queue=queue)


def contact_done(vendor: str, event_id: str, agent: str, conversation: str,
                 at: str) -> list[Doc]:
    """The end of a contact on a helpdesk without after-contact work (none of the four
    has a wrap-up state in its webhooks): the contact ends and its wrap-up ends at the same
    moment, so the handle time ends there and no contact is left in wrap-up."""
    return [agent_event(vendor, f"{event_id}:ended", CONTACT_ENDED, agent, at, conversation),
            agent_event(vendor, f"{event_id}:wrapup", WRAPUP_ENDED, agent, at, conversation)]


# streams.schema.MAX_ID_LEN: the schema refuses a longer ``customer_id`` (and with it the
# event), so a vendor id past it is left out rather than cost the event
MAX_CUSTOMER_ID = 128


def customer(*candidates: Any) -> str | None:
    """Schema v1.2's ``customer_id``: the first of ``candidates`` (the vendor's own ids of
    the requester or contact, best first) that is one, as a string; None when none is.

    Only what the payload gives is taken, never made up: a value that is not a string or
    an integer, empty, ``0``, an unrendered placeholder (``{{ticket.requester.id}}`` of a
    trigger template), longer than the schema allows or not valid Unicode is no id."""
    for value in candidates:
        if isinstance(value, bool) or not isinstance(value, str | int):
            continue
        text = str(value)
        if text in ("", "0") or "{{" in text or len(text) > MAX_CUSTOMER_ID:
            continue
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            continue
        return text
    return None


def with_customer(events: list[Doc], customer_id: str | None) -> list[Doc]:
    """The events with the conversation's ``customer_id`` (from :func:`customer`); as
    they are when the payload names no customer. Agent events never carry one: they are
    the agent's, not the customer's."""
    if not customer_id:
        return events
    return [e if is_agent_event(e) else {**e, "customer_id": customer_id} for e in events]


@dataclass
class Imported:
    """What an export maps to: the events, what was dropped (nothing a KPI needs) and
    why, what was refused (cannot be mapped) and why, and what was mapped from less than
    the vendor's event (a time taken as an upper bound), so the summary says so."""

    events: list[Doc] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)
    refused: dict[str, int] = field(default_factory=dict)
    approximated: dict[str, int] = field(default_factory=dict)

    def approximate(self, what: str) -> None:
        self.approximated[what] = self.approximated.get(what, 0) + 1

    def skip(self, what: str) -> None:
        self.skipped[what] = self.skipped.get(what, 0) + 1

    def refuse(self, err: ConnectorError | str) -> None:
        """Count a record that cannot be mapped, by its reason code or by what it lacks."""
        what = err.reason if isinstance(err, ConnectorError) else err
        self.refused[what] = self.refused.get(what, 0) + 1


def map_whole(records: Iterable[Doc], mapper: Callable[[Doc, Imported], None]) -> Imported:
    """Each record through ``mapper``, which maps it whole or not at all: a record it
    refuses adds none of its events, only the reason to ``refused``."""
    out = Imported()
    for doc in records:
        one = Imported()
        try:
            mapper(doc, one)
        except ConnectorError as err:
            out.refuse(err)
            continue
        out.events += one.events
        for mine, theirs in ((out.skipped, one.skipped),
                             (out.approximated, one.approximated)):
            for what, n in theirs.items():
                mine[what] = mine.get(what, 0) + n
    return out


def items(docs: Iterable[Any], *keys: str) -> Iterator[Doc]:
    """The records of export files: a JSON array is its elements, a page object the list
    under the first of ``keys`` it has (nested keys as ``"data.payload"``), anything
    else one record."""
    for doc in docs:
        if isinstance(doc, list):
            yield from items(doc, *keys)
            continue
        for key in keys:
            inner: Any = doc
            for part in key.split("."):
                inner = inner.get(part) if isinstance(inner, dict) else None
            if isinstance(inner, list):
                yield from (d for d in inner if isinstance(d, dict))
                break
        else:
            if isinstance(doc, dict):
                yield doc
