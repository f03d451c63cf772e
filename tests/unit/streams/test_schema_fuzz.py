"""Fuzzing the decoder/validator: whatever bytes arrive, the answer is an event or a reason.

Three generators: raw bytes; JSON documents of any shape; and near-valid events whose
fields are swapped for values of the wrong type, size or range. The validator must never
raise anything but :class:`InvalidEvent` with a known reason, and what it accepts must be
an event the windows can use (and store and reload unchanged). Its fast path (msgspec, one
pass) and its field-by-field checks must agree on every input: the same event, or the same
reason.
"""

from __future__ import annotations

import json
import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kpi.events import EVENT_TYPES, Event
from streams.errors import REASONS, InvalidEvent
from streams.schema import SchemaConfig, validate, validate_fields

CFG = SchemaConfig(max_message_bytes=4096)
NOW_MS = 1_800_000_000_000


def by_fields(raw: bytes) -> Event | str:
    try:
        return validate_fields(raw, CFG, lambda: NOW_MS)
    except InvalidEvent as exc:
        return exc.reason


def verdict(raw: bytes) -> Event | str:
    try:
        e = validate(raw, CFG, lambda: NOW_MS)
    except InvalidEvent as exc:
        assert exc.reason in REASONS, exc.reason
        assert isinstance(exc.detail, str) and exc.detail
        assert exc.reason == "oversized" or by_fields(raw) == exc.reason
        return exc.reason
    assert by_fields(raw) == e  # the fast path gives what the field checks give
    assert e.type in EVENT_TYPES and e.event_id and e.conversation_id
    assert isinstance(e.t_ms, int) and e.t_ms <= NOW_MS + CFG.max_future_skew_ms
    assert e.score is None or math.isfinite(e.score)
    # what is accepted survives the compact state round trip the writer relies on
    assert Event.from_compact(e.conversation_id,
                              json.loads(json.dumps(e.to_compact()))) == e
    return e


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
    | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner,
                                                                 max_size=4),
    max_leaves=12)

FIELDS = ("event_id", "type", "occurred_at", "conversation_id", "queue", "channel", "team",
          "priority", "actor", "agent_id", "score", "status")
odd_values = (json_values | st.sampled_from(sorted(EVENT_TYPES)) | st.text(min_size=120)
              | st.sampled_from(["2026-11-23T10:00:00Z", "2026-11-23T10:00:00", "1e400",
                                 "", "agent", "customer", "bot", -1, 1e300, 0, 5, 11, 4.5,
                                 1_700_000_000, 1_700_000_000.25, 2**64, -0.0, True,
                                 "all", "other", "unknown", "a|b,c=d", "x\ty", "pending",
                                 "open", "on_hold", "closed", "\u00e9t\u00e9", "x" * 128,
                                 "x" * 129, "1970-01-01T00:00:00-00:01"]))


@given(st.binary(max_size=600))
@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
def test_arbitrary_bytes(raw: bytes) -> None:
    verdict(raw)


@given(json_values)
@settings(max_examples=300)
def test_arbitrary_json(doc: object) -> None:
    verdict(json.dumps(doc).encode())


@given(st.dictionaries(st.sampled_from(FIELDS), odd_values, max_size=len(FIELDS)),
       st.sampled_from(sorted(EVENT_TYPES)))
@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])
def test_near_valid_events(overrides: dict[str, object], typ: str) -> None:
    doc: dict[str, object] = {"event_id": "e1", "type": typ,
                              "occurred_at": "2026-11-23T10:00:00Z",
                              "conversation_id": "c1", "actor": "agent", "score": 4}
    doc.update(overrides)
    verdict(json.dumps(doc).encode())


@given(st.binary(max_size=200).map(lambda b: b"{" + b" " * 4096 + b))
@settings(max_examples=20)
def test_oversized_is_rejected_before_decoding(raw: bytes) -> None:
    assert verdict(raw) == "oversized"


@given(st.integers(min_value=1, max_value=3000), st.sampled_from([b"[", b'{"a":']))
@settings(max_examples=30)
def test_deep_nesting_is_not_json_not_a_crash(depth: int, opener: bytes) -> None:
    closer = b"]" if opener == b"[" else b"}"
    raw = opener * depth + b"1" + closer * depth
    result = validate_big(raw)
    assert isinstance(result, str)  # a reason (not_object, missing_field…), never an escape


def test_nesting_deeper_than_the_parser_stack() -> None:
    raw = b"[" * 200_000 + b"]" * 200_000
    assert validate_big(raw) == "not_json"


def validate_big(raw: bytes) -> Event | str:
    try:
        return validate(raw, SchemaConfig(max_message_bytes=10**6), lambda: NOW_MS)
    except InvalidEvent as exc:
        assert exc.reason in REASONS
        return exc.reason
