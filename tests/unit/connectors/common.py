"""What the vendor mapping tests share: the documented fixtures and the KPI row of the
events a mapping gives."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable

from kpi.config import KpiConfig, windows_from_text
from kpi.conversation import contributions
from kpi.events import Event
from kpi.rows import summarize
from streams.schema import SchemaConfig, validate
from tests.support import ROOT

Doc = dict[str, object]


def payloads(vendor: str) -> list[Doc]:
    """The vendor's fixtures in file order (tests/fixtures/connectors/<vendor>)."""
    folder = ROOT / "tests/fixtures/connectors" / vendor
    return [json.loads(p.read_text())["payload"] for p in sorted(folder.glob("*.json"))]


def sources(vendor: str) -> list[str]:
    folder = ROOT / "tests/fixtures/connectors" / vendor
    return [json.loads(p.read_text())["source"] for p in sorted(folder.glob("*.json"))]


def kpi_row(normalize: Callable[[Doc], list[Doc]], docs: list[Doc]) -> dict[str, float | None]:
    """The stream's summary row of every event the payloads map to, in one window."""
    by_conversation: dict[str, list[Event]] = {}
    for d in docs:
        for e in normalize(d):
            ev = validate(json.dumps(e).encode(), SchemaConfig(), lambda: 2**62)
            by_conversation.setdefault(ev.conversation_id, []).append(ev)
    fields: Counter[str] = Counter()
    cfg = KpiConfig(windows=windows_from_text("1h"))
    for events in by_conversation.values():  # the arithmetic is per conversation
        for (_t, metric), n in contributions(events, cfg).items.items():
            fields[metric] += n
    return summarize(fields)


def reason(normalize: Callable[[Doc], list[Doc]], doc: Doc) -> str:
    """The DLQ reason a payload the mapping cannot read is refused with."""
    from connectors.errors import ConnectorError

    try:
        normalize(doc)
    except ConnectorError as err:
        return err.reason
    raise AssertionError(f"mapped, not refused: {doc}")
