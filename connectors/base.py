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
class Vendor:
    """One helpdesk: how its payloads map, which conversation a payload is about (the
    Kafka key of its raw topic, so one conversation stays in order), and its signature."""

    name: str
    normalize: Callable[[Doc], list[Doc]]
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


@dataclass
class Imported:
    """What an export maps to: the events, what was dropped (nothing a KPI needs) and
    why, and what was refused (cannot be mapped) and why."""

    events: list[Doc] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)
    refused: dict[str, int] = field(default_factory=dict)

    def skip(self, what: str) -> None:
        self.skipped[what] = self.skipped.get(what, 0) + 1

    def refuse(self, err: ConnectorError) -> None:
        self.refused[err.reason] = self.refused.get(err.reason, 0) + 1


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
        for what, n in one.skipped.items():
            out.skipped[what] = out.skipped.get(what, 0) + n
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
