"""Dead letters in the log: the first of each reason at once, then a summary per reason
per minute, however many arrive."""

from __future__ import annotations

import logging

import pytest

from streams.processor import DeadLetterLog


def test_first_of_a_reason_at_once_then_one_summary_per_minute(
        caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    dl = DeadLetterLog(lambda: now[0], every_s=60)
    with caplog.at_level(logging.INFO, logger="streams.processor"):
        dl.note("not_json", "t:0@1", "not valid JSON")
        for i in range(500):
            now[0] = i * 0.1
            dl.note("not_json", f"t:0@{i + 2}", "not valid JSON")
            dl.note("unknown_type", f"t:1@{i}", "unknown event type 'x'")
        now[0] = 61.0
        dl.note("not_json", "t:0@999", "not valid JSON")
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "dead-lettered t:0@1: not_json (not valid JSON); further ones are summarised every 60s",
        "dead-lettered t:1@0: unknown_type (unknown event type 'x'); further ones are "
        "summarised every 60s",
        "dead-lettered 501 more not_json in the last 61s (latest t:0@999: not valid JSON)",
        "dead-lettered 499 more unknown_type in the last 61s (latest t:1@499: unknown event "
        "type 'x')",
    ]
