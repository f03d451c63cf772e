from __future__ import annotations

import json

import pytest

from streams.errors import InvalidEvent
from streams.schema import SchemaConfig, parse_occurred_at, validate

CFG = SchemaConfig(max_message_bytes=2048)
NOW_MS = 1_800_000_000_000


def now() -> int:
    return NOW_MS


def good(**kw: object) -> dict[str, object]:
    doc: dict[str, object] = {"event_id": "e1", "type": "ticket.created",
                              "occurred_at": "2026-11-23T10:00:00Z", "conversation_id": "T1",
                              "queue": "billing", "channel": "email"}
    doc.update(kw)
    return doc


def reason_of(raw: bytes) -> str:
    with pytest.raises(InvalidEvent) as info:
        validate(raw, CFG, now)
    return info.value.reason


def enc(doc: object) -> bytes:
    return json.dumps(doc).encode()


def test_valid_event_is_normalized() -> None:
    e = validate(enc(good()), CFG, now)
    assert e.type == "ticket.created" and e.queue == "billing"
    assert e.t_ms == parse_occurred_at("2026-11-23T10:00:00+00:00")


def test_epoch_seconds_and_offsets() -> None:
    assert parse_occurred_at(1.5) == 1500
    assert parse_occurred_at("1970-01-01T01:00:00+01:00") == 0
    with pytest.raises(ValueError, match="UTC offset"):
        parse_occurred_at("2026-11-23T10:00:00")


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", "not_json"),
        (b"\xff\xfe", "not_json"),
        (b"[1,2]", "not_object"),
        (enc({k: v for k, v in good().items() if k != "event_id"}), "missing_field"),
        (enc({k: v for k, v in good().items() if k != "occurred_at"}), "missing_field"),
        (enc(good(event_id=5)), "wrong_type"),
        (enc(good(event_id="x" * 129)), "field_too_long"),
        (enc(good(type="ticket.teleported")), "unknown_type"),
        (enc(good(occurred_at="yesterday")), "bad_timestamp"),
        (enc(good(occurred_at=True)), "bad_timestamp"),
        (enc(good(occurred_at="0001-01-01T00:00:00Z")), "before_1970"),
        (enc(good(occurred_at="1969-12-31T23:59:59Z")), "before_1970"),
        (enc(good(occurred_at=-1)), "before_1970"),
        (b'{"event_id":"e1","type":"ticket.created","occurred_at":1,"conversation_id":'
         b'"T\\ud800"}', "bad_text"),
        (b'{"event_id":"e1","type":"ticket.created","occurred_at":1,"conversation_id":"T",'
         b'"queue":"\\udfff"}', "bad_text"),
        (enc(good(type="survey.csat", score=10**400)), "score_out_of_range"),
        (enc(good(occurred_at=NOW_MS / 1000 + 301)), "future_timestamp"),
        (enc(good(type="ticket.message")), "missing_field"),
        (enc(good(type="ticket.message", actor="robot")), "bad_actor"),
        (enc(good(type="survey.csat")), "missing_score"),
        (enc(good(type="survey.csat", score=6)), "score_out_of_range"),
        (enc(good(type="survey.nps", score=-1)), "score_out_of_range"),
        (enc(good(type="survey.ces", score="5")), "wrong_type"),
        (enc(good(queue=7)), "wrong_type"),
        (enc(good(note="x" * 3000)), "oversized"),
    ],
)
def test_rejections_have_precise_reasons(raw: bytes, reason: str) -> None:
    assert reason_of(raw) == reason


def test_skew_allows_slightly_future_events() -> None:
    validate(enc(good(occurred_at=NOW_MS / 1000 + 299)), CFG, now)


def test_label_values_cannot_break_field_encoding() -> None:
    e = validate(enc(good(queue="a|b,c=d")), CFG, now)
    assert e.queue == "a_b_c_d"
