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


def is_agent(e: Doc) -> bool:
    """A schema v1.3 agent event (the agents topic), not a conversation's."""
    return str(e.get("type", "")).startswith("agent.")


def conversation_events(events: list[Doc]) -> list[Doc]:
    return [e for e in events if not is_agent(e)]


def agent_events(events: list[Doc]) -> list[Doc]:
    return [e for e in events if is_agent(e)]


def agent_payloads(vendor: str) -> list[Doc]:
    """The vendor's agent fixtures in file order (tests/fixtures/connectors/<vendor>/agents)."""
    folder = ROOT / "tests/fixtures/connectors" / vendor / "agents"
    return [json.loads(p.read_text())["payload"] for p in sorted(folder.glob("*.json"))]


def agent_sources(vendor: str) -> list[dict[str, object]]:
    folder = ROOT / "tests/fixtures/connectors" / vendor / "agents"
    return [json.loads(p.read_text())["source"] for p in sorted(folder.glob("*.json"))]


def kpi_row(normalize: Callable[[Doc], list[Doc]], docs: list[Doc]) -> dict[str, float | None]:
    """The stream's summary row of every conversation event the payloads map to, in one
    window (agent events go to the agents topic: not this row's)."""
    by_conversation: dict[str, list[Event]] = {}
    for d in docs:
        for e in conversation_events(normalize(d)):
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
