"""Event schema v1.2 (v1 plus ``ticket.status_changed`` and an optional ``customer_id``,
docs/schema.md): raw Kafka bytes → :class:`kpi.events.Event`, or a precise reason.

A ``customer_id`` never passes this door: it becomes its keyed hash
(:func:`customer_hash`) when the customer KPIs are on (a key is configured), and is
dropped otherwise, so no state, log or export downstream can hold it.

Decoding happens here, inside the agent's ``try``, rather than in a Faust
serializer: an exception raised by Faust's own deserializer stops the agent.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from kpi.events import (
    ACTORS,
    DIMENSIONS,
    EVENT_TYPES,
    MESSAGE_TYPES,
    STATUS_CHANGED,
    STATUSES,
    Event,
    escape_reserved,
)
from streams.errors import InvalidEvent
from streams.wire import DECODER, DecodeError, Wire
from windows.plan import Record

MAX_ID_LEN = 128
MAX_DIM_LEN = 128
_DIM_UNSAFE = str.maketrans({c: "_" for c in "|,=\n\r\t\x00"})


@dataclass(frozen=True)
class SchemaConfig:
    max_message_bytes: int = 65_536
    max_future_skew_ms: int = 300_000
    scales: Mapping[str, tuple[float, float]] = field(
        default_factory=lambda: {
            "survey.csat": (1.0, 5.0),
            "survey.nps": (0.0, 10.0),
            "survey.ces": (1.0, 7.0),
        }
    )
    # the key of the customer ids' keyed hash (SUPPORT_CUSTOMER_SECRET); None: customer
    # KPIs are off and customer ids are dropped
    customer_key: bytes | None = None


# the hash's length in hex digits: 128 bits, no collision among any real customer base
CUSTOMER_HASH_HEX = 32


def customer_hash(key: bytes, customer_id: str) -> str:
    """The keyed hash (HMAC-SHA256, cut to 128 bits) that stands for a customer id
    everywhere after validation: without the key it cannot be recomputed from a guessed
    id (an e-mail address), which a plain hash could."""
    return hmac.new(key, customer_id.encode("utf-8"), hashlib.sha256).hexdigest()[
        :CUSTOMER_HASH_HEX]


def _customer(cfg: SchemaConfig, v: str | int | None) -> str | None:
    """The stored identity of a ``customer_id`` (already type-checked)."""
    if v is None or v == "" or cfg.customer_key is None:
        return None
    return customer_hash(cfg.customer_key, str(v))


# A Kafka header that marks a history imported into a live pipeline (``import``, ``replay
# --backfill``): its events are applied however old, where live traffic's stragglers past
# SUPPORT_ALLOWED_LATENESS are dropped (windows.plan.plan_records)
BACKFILL_HEADER = "support-backfill"


class RawMessage:
    """One Kafka record as the processor needs it (built once per record, by the transport:
    a plain compiled class, where a named tuple's constructor runs interpreted)."""

    __slots__ = ("backfill", "key", "offset", "value")

    def __init__(self, offset: int, key: bytes | None, value: bytes,
                 backfill: bool = False) -> None:
        self.offset = offset
        self.key = key
        self.value = value
        self.backfill = backfill  # history sent as such (BACKFILL_HEADER): never late

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RawMessage) and (
            self.offset, self.key, self.value, self.backfill) == (
            other.offset, other.key, other.value, other.backfill)

    def __hash__(self) -> int:
        return hash((self.offset, self.key, self.value, self.backfill))

    def __repr__(self) -> str:
        return (f"RawMessage({self.offset!r}, {self.key!r}, {self.value!r}"
                f"{', backfill=True' if self.backfill else ''})")


def validate_batch(messages: Sequence[RawMessage], cfg: SchemaConfig,
                   now_ms: Callable[[], int], forced: Mapping[int, InvalidEvent] | None = None
                   ) -> tuple[list[Record], list[tuple[RawMessage, InvalidEvent]]]:
    """A batch validated: a record per message (its event, or its reason), and the rejected
    messages with why; ``forced`` rejects offsets whatever they hold (the processor's
    one-by-one fallback). The time is read once for the batch (a batch takes well under a
    second; the future-skew allowance is minutes)."""
    now = now_ms()

    def at_batch_start() -> int:
        return now

    records: list[Record] = []
    rejects: list[tuple[RawMessage, InvalidEvent]] = []
    for m in messages:
        err = forced.get(m.offset) if forced else None
        if err is None:
            try:
                records.append(Record(m.offset, validate(m.value, cfg, at_batch_start),
                                      backfill=m.backfill))
                continue
            except InvalidEvent as exc:
                err = exc
        records.append(Record(m.offset, None, err.reason))
        rejects.append((m, err))
    return records, rejects


class BeforeEpoch(ValueError):
    """A time before 1970-01-01: no support event is that old (a zeroed or default date)."""


def parse_occurred_at(value: Any) -> int:
    """RFC 3339 string or epoch seconds → epoch milliseconds (raises ValueError, or
    :class:`BeforeEpoch` for a time before 1970, in either spelling)."""
    if isinstance(value, bool):
        raise ValueError("a boolean is not a time")
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise ValueError(f"epoch seconds out of range: {value!r}")
        ms = round(value * 1000)
    elif isinstance(value, str):
        text = value.strip()
        if text.endswith(("z", "Z")):
            text = text[:-1] + "+00:00"
        dt = datetime.fromisoformat(text)
        if dt.tzinfo is None:
            raise ValueError(f"timestamp without a UTC offset: {value!r}")
        ms = round(dt.timestamp() * 1000)
    else:
        raise ValueError(f"expected RFC 3339 string or epoch seconds, got "
                         f"{type(value).__name__}")
    if ms < 0:
        raise BeforeEpoch(f"{value!r} is before 1970-01-01")
    return ms


def _encodable(v: str, name: str) -> str:
    """A string the store can write: JSON can carry a lone surrogate (``"\\ud800"``),
    UTF-8 cannot, and finding out in the batch script would fail the whole batch."""
    try:
        v.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidEvent("bad_text", f"field {name!r} is not valid Unicode text (a lone "
                           "surrogate)") from None
    return v


def _req_str(doc: Mapping[str, Any], name: str, max_len: int) -> str:
    if name not in doc or doc[name] is None:
        raise InvalidEvent("missing_field", f"missing required field {name!r}")
    v = doc[name]
    if not isinstance(v, str):
        raise InvalidEvent("wrong_type", f"field {name!r} must be a string, got {type(v).__name__}")
    if not v:
        raise InvalidEvent("missing_field", f"required field {name!r} is empty")
    if len(v) > max_len:
        raise InvalidEvent("field_too_long", f"field {name!r} is longer than {max_len}")
    return _encodable(v, name)


def _opt_str(doc: Mapping[str, Any], name: str) -> str | None:
    v = doc.get(name)
    if v is None or v == "":
        return None
    if not isinstance(v, str):
        raise InvalidEvent("wrong_type", f"field {name!r} must be a string, got {type(v).__name__}")
    if len(v) > MAX_DIM_LEN:
        raise InvalidEvent("field_too_long", f"field {name!r} is longer than {MAX_DIM_LEN}")
    return _encodable(v, name).translate(_DIM_UNSAFE)


def _dim(doc: Mapping[str, Any], name: str) -> str | None:
    v = _opt_str(doc, name)
    return None if v is None else escape_reserved(v)


def _decode(raw: bytes) -> Any:
    """orjson for the common case (about a tenth of the stdlib's time per event); what it
    refuses goes to the stdlib, which decides as it always did: it reads what orjson does
    not (a lone surrogate escape, an integer past 64 bits, NaN) so that the fields' own
    checks give their reasons (bad_text, score_out_of_range), and it words the not_json
    detail. Where both accept a document they decode it alike, except integers past 64
    bits, which orjson reads as floats: absurd for every field either way."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return json.loads(raw)


def validate(raw: bytes, cfg: SchemaConfig, now_ms: Callable[[], int]) -> Event:
    """Validate one message; raises :class:`InvalidEvent` with a reason code.

    Most messages are valid: they are decoded and type-checked in one pass into
    :class:`streams.wire.Wire` and checked further without a dict in between
    (:func:`_fast`, ~2 µs). Whatever that path does not accept goes through the
    field-by-field checks (:func:`validate_fields`), which name the reason, or accept what
    the fast path was too strict for."""
    if len(raw) > cfg.max_message_bytes:
        raise InvalidEvent(
            "oversized", f"message of {len(raw)} bytes exceeds {cfg.max_message_bytes}"
        )
    try:
        event = _fast(DECODER.decode(raw), cfg, now_ms)
    except (DecodeError, RecursionError, _Slow):  # too deep for msgspec: the field checks say
        event = None
    return event if event is not None else validate_fields(raw, cfg, now_ms)


class _Slow(Exception):
    """The fast path gives up: the field-by-field checks decide."""


def _fast_opt(v: str | None) -> str | None:
    """:func:`_opt_str` of a value already typed (msgspec never yields a lone surrogate)."""
    if v is None or v == "":
        return None
    if len(v) > MAX_DIM_LEN:
        raise _Slow
    return v.translate(_DIM_UNSAFE)


def _fast_dim(v: str | None) -> str | None:
    v = _fast_opt(v)
    return None if v is None else escape_reserved(v)


def _fast(w: Wire, cfg: SchemaConfig, now_ms: Callable[[], int]) -> Event | None:
    """The event the field-by-field checks would return, or None (or :class:`_Slow`) where
    they might not: every check below is one of theirs, on the same values."""
    event_id, typ, conversation_id = w.event_id, w.type, w.conversation_id
    if not event_id or len(event_id) > MAX_ID_LEN or typ not in EVENT_TYPES \
            or not conversation_id or len(conversation_id) > MAX_ID_LEN:
        return None
    try:
        t_ms = parse_occurred_at(w.occurred_at)
    except (ValueError, OverflowError):
        return None
    if t_ms > now_ms() + cfg.max_future_skew_ms:
        return None
    actor = _fast_opt(w.actor)
    if (actor is None and typ in MESSAGE_TYPES) or (actor is not None and actor not in ACTORS):
        return None
    score: float | None = None
    if typ in cfg.scales:
        s = w.score
        if s is None or not math.isfinite(s):
            return None
        lo, hi = cfg.scales[typ]
        if not lo <= s <= hi:
            return None
        score = s
    status: str | None = None
    if typ == STATUS_CHANGED:
        status = _fast_opt(w.status)
        if status not in STATUSES:
            return None
    cust = w.customer_id
    if cust is not None and (isinstance(cust, bool) or len(str(cust)) > MAX_ID_LEN):
        return None
    return Event(event_id=event_id, type=typ, t_ms=t_ms, conversation_id=conversation_id,
                 channel=_fast_dim(w.channel), queue=_fast_dim(w.queue),
                 team=_fast_dim(w.team), priority=_fast_dim(w.priority), actor=actor,
                 agent_id=_fast_opt(w.agent_id), score=score, status=status,
                 customer=_customer(cfg, cust))


def validate_fields(raw: bytes, cfg: SchemaConfig, now_ms: Callable[[], int]) -> Event:
    """Validate one message field by field; raises :class:`InvalidEvent` with the reason
    (the size was checked by :func:`validate`)."""
    try:
        doc = _decode(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidEvent("not_json", f"not valid JSON: {exc}") from None
    except RecursionError:  # "[[[[…" nested deeper than the parser's stack
        raise InvalidEvent("not_json", "JSON nested too deeply") from None
    if not isinstance(doc, dict):
        raise InvalidEvent("not_object", f"expected a JSON object, got {type(doc).__name__}")
    event_id = _req_str(doc, "event_id", MAX_ID_LEN)
    typ = _req_str(doc, "type", 64)
    if typ not in EVENT_TYPES:
        if typ.startswith("agent."):
            raise InvalidEvent("wrong_topic", f"{typ} is an agent event: it belongs on the "
                               "agents topic (schema v1.3)")
        raise InvalidEvent("unknown_type", f"unknown event type {typ!r}")
    conversation_id = _req_str(doc, "conversation_id", MAX_ID_LEN)
    if "occurred_at" not in doc or doc["occurred_at"] is None:
        raise InvalidEvent("missing_field", "missing required field 'occurred_at'")
    try:
        t_ms = parse_occurred_at(doc["occurred_at"])
    except BeforeEpoch as exc:
        raise InvalidEvent("before_1970", f"occurred_at: {exc}") from None
    except (ValueError, OverflowError) as exc:
        raise InvalidEvent("bad_timestamp", f"occurred_at: {exc}") from None
    if t_ms > now_ms() + cfg.max_future_skew_ms:
        raise InvalidEvent(
            "future_timestamp",
            f"occurred_at is more than {cfg.max_future_skew_ms // 1000}s in the future",
        )
    dims = {d: _dim(doc, d) for d in DIMENSIONS}
    actor = _opt_str(doc, "actor")
    if typ in MESSAGE_TYPES:
        if actor is None:
            raise InvalidEvent("missing_field", f"{typ} requires 'actor'")
        if actor not in ACTORS:
            raise InvalidEvent("bad_actor", f"actor must be one of {sorted(ACTORS)}, got {actor!r}")
    elif actor is not None and actor not in ACTORS:
        raise InvalidEvent("bad_actor", f"actor must be one of {sorted(ACTORS)}, got {actor!r}")
    score: float | None = None
    if typ in cfg.scales:
        s = doc.get("score")
        if s is None:
            raise InvalidEvent("missing_score", f"{typ} requires 'score'")
        if isinstance(s, bool) or not isinstance(s, int | float):
            raise InvalidEvent("wrong_type", f"score must be a number, got {type(s).__name__}")
        try:
            finite = math.isfinite(s)
        except OverflowError:  # an integer too large for a float: 10**400
            finite = False
        if not finite:
            raise InvalidEvent("score_out_of_range", "score is not a finite number")
        lo, hi = cfg.scales[typ]
        if not lo <= s <= hi:
            raise InvalidEvent("score_out_of_range", f"{typ} score {s} outside {lo:g}..{hi:g}")
        score = float(s)
    return Event(
        event_id=event_id,
        type=typ,
        t_ms=t_ms,
        conversation_id=conversation_id,
        actor=actor,
        agent_id=_opt_str(doc, "agent_id"),
        score=score,
        status=_status(doc) if typ == STATUS_CHANGED else None,
        customer=_customer(cfg, _customer_id(doc)),
        **dims,
    )


def _customer_id(doc: Mapping[str, Any]) -> str | int | None:
    """Schema v1.2's optional ``customer_id``: a string or an integer (helpdesks number
    their requesters), at most :data:`MAX_ID_LEN` characters."""
    v = doc.get("customer_id")
    if v is None or v == "":
        return None
    if isinstance(v, bool) or not isinstance(v, str | int):
        raise InvalidEvent("wrong_type", f"field 'customer_id' must be a string or an "
                           f"integer, got {type(v).__name__}")
    if len(str(v)) > MAX_ID_LEN:
        raise InvalidEvent("field_too_long", f"field 'customer_id' is longer than "
                           f"{MAX_ID_LEN}")
    return _encodable(v, "customer_id") if isinstance(v, str) else v


def _status(doc: Mapping[str, Any]) -> str:
    """Schema v1.1's status of a ``ticket.status_changed`` (v1 events carry none)."""
    status = _opt_str(doc, "status")
    if status is None:
        raise InvalidEvent("missing_field", f"{STATUS_CHANGED} requires 'status'")
    if status not in STATUSES:
        raise InvalidEvent("bad_status", f"status must be one of {', '.join(STATUSES)}, "
                           f"got {status!r}")
    return status
