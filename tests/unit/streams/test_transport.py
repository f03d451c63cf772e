"""The batch transport's pure parts: the message it hands Faust for a fetched record list,
the start-up refusal of untested versions, its registration, and how the agent cuts
coalesced fetches into script-sized batches. Its behaviour with a real broker (commits,
rebalances, crashes) is what every test in tests/integration/streams/ runs on."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from faust.transport.drivers import by_url
from faust.types import TP

from streams import transport
from streams.app import _by_partition
from streams.errors import StreamError
from streams.processor import RawMessage


def record(offset: int, value: bytes | None = b"{}") -> Any:
    return SimpleNamespace(offset=offset, key=b"k", value=value, timestamp=1_700_000_000_123,
                           timestamp_type=0, serialized_value_size=len(value or b""), headers=[])


def test_a_fetched_list_becomes_one_message_at_its_last_offset() -> None:
    tp = TP("t", 3)
    m = transport._batch_message(tp, [record(10), record(11, None), record(12)], 7)
    assert (m.topic, m.partition, m.offset, m.tp) == ("t", 3, 12, tp)
    assert m.value == (RawMessage(10, b"k", b"{}"), RawMessage(11, b"k", b""),
                       RawMessage(12, b"k", b"{}"))
    assert m.timestamp == pytest.approx(1_700_000_000.123)
    assert m.generation_id == 7


def test_the_scheme_is_registered_with_faust() -> None:
    assert by_url(f"{transport.SCHEME}://127.0.0.1:9092") is transport.BatchTransport
    transport.check_supported()  # the installed versions are the tested ones


def test_an_untested_faust_version_is_refused_at_start_up(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(transport.TESTED_VERSIONS, "faust-streaming", "0.0.1")
    with pytest.raises(StreamError, match=r"faust-streaming==0\.0\.1.*make setup") as info:
        transport.check_supported()
    assert info.value.reason == "unsupported_version"


def _event(topic: str, partition: int, offsets: range) -> Any:
    value = tuple(RawMessage(o, None, b"x") for o in offsets)
    return SimpleNamespace(message=SimpleNamespace(topic=topic, partition=partition,
                                                   value=value))


def test_coalesced_fetches_are_joined_per_partition_and_cut_at_the_limit() -> None:
    events = [_event("a", 0, range(0, 3)), _event("a", 1, range(0, 2)),
              _event("a", 0, range(3, 8))]
    got = [(tp, [m.offset for m in msgs]) for tp, msgs in _by_partition(events, 4)]
    assert got == [(("a", 0), [0, 1, 2, 3]), (("a", 0), [4, 5, 6, 7]), (("a", 1), [0, 1])]
