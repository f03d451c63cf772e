"""The conformance corpus through the real door: every real delivery (tests/fixtures/
connectors/real, captures and recorded API records from public repositories, each citing
repository, path and commit) and every documented example (tests/fixtures/connectors/
<vendor>), signed as its vendor signs, posted to the real intake and mapped by the real
worker; every export record imported with ``import`` over them. The worker's events are
the pure mapping's (tests/unit/connectors/test_real_corpus.py states those by hand), each
refusal is on the DLQ with its reason, an event both paths deliver counts once, and every
KPI of every window agrees with the batch oracle over the union."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from connectors.base import Context
from connectors.errors import ConnectorError
from connectors.registry import IMPORTS, VENDORS
from tests.integration.intake.floor import REAL, Floor
from tests.replay_check import counters, seen
from tests.support import ROOT, wait_for

pytestmark = pytest.mark.integration

DOCUMENTED = ROOT / "tests/fixtures/connectors"


@pytest.fixture
def lateness() -> str:
    """The corpus spans 2019 to now, and the worker reads the vendors' raw topics in any
    interleaving: no event of it is late for the others' (the lateness tests are
    test_real_traffic's and the stream's own)."""
    return "4000d"


def corpus(kind: str) -> list[tuple[str, Path, Any]]:
    """(vendor, file, payload) of the real fixtures of ``kind`` and, for webhooks, the
    documented examples; for exports, the documented export files."""
    out = []
    for path in sorted(REAL.glob("*/*.json")):
        doc = json.loads(path.read_text())
        if doc["kind"] == kind:
            out.append((path.parent.name, path, doc["payload"]))
    for vendor in VENDORS:
        folder = DOCUMENTED / (vendor if kind == "webhook" else f"{vendor}_export")
        out += [(vendor, p, json.loads(p.read_text())["payload"])
                for p in sorted(folder.glob("*.json"))]
    return out


def brief(e: dict[str, Any]) -> str:
    """What an event is, without the times a rule body leaves to the receipt."""
    return f"{e['type']} {e['conversation_id']} {e.get('actor', '-')} {e.get('queue', '-')}"


def first_time(events: list[dict[str, Any]]) -> str:
    return min((e["occurred_at"] for e in events), default="9999")


def test_every_real_payload_through_the_intake_worker_and_import(floor: Floor) -> None:
    now = time.time()
    hooks, refused = [], Counter[str]()
    for vendor, path, payload in corpus("webhook"):
        try:
            mapped = VENDORS[vendor].normalize(payload, Context(received_at=now))
        except ConnectorError as err:
            mapped, _ = [], refused.update([err.reason])
        hooks.append((first_time(mapped), vendor, path, payload, mapped))
    assert len(hooks) >= 4 * 8 and refused, "the corpus, with payloads it must refuse"
    for _t, vendor, path, payload, _m in sorted(hooks, key=lambda h: (h[0], str(h[2]))):
        assert floor.post(vendor, payload) == 200, path  # in time order, as they happened
    every = [e for *_x, mapped in hooks for e in mapped]
    # the agents' events (schema v1.3) go to the agents topic; the rest are conversations'
    from_hooks = [e for e in every if not str(e["type"]).startswith("agent.")]
    agents = [e for e in every if str(e["type"]).startswith("agent.")]
    assert agents, "the corpus has agent events (Intercom, Chatwoot, Zendesk)"
    wait_for(lambda: Counter(floor.dlq_reasons()) == refused, 60,
             f"the refusals on the DLQ: {dict(refused)}")
    wait_for(lambda: len(floor.events()) == len(from_hooks), 60, "the webhooks' events")
    wait_for(lambda: sorted(e["event_id"] for e in floor.agent_events()) ==
             sorted(e["event_id"] for e in agents), 60, "the webhooks' agent events")
    agent_dups = len(agents) - len({e["event_id"] for e in agents})

    by_vendor: dict[str, list[Any]] = {}
    for vendor, _path, payload in corpus("export"):
        by_vendor.setdefault(vendor, []).append(payload)
    from_imports = []
    for vendor, docs in sorted(by_vendor.items()):
        from_imports += IMPORTS[vendor](docs, Context()).events
        summary = floor.import_(vendor, *docs)
        assert "imported" in summary, summary

    union = floor.events()
    assert sorted(map(brief, union)) == sorted(map(brief, from_hooks + from_imports))
    unique = {e["event_id"] for e in union}
    assert len(unique) < len(union), "the corpus overlaps: some events come both ways"
    wait_for(lambda: seen(floor.port) >= len(union) + len(agents), 90,
             f"{len(union) + len(agents)} events applied")
    c = counters(floor.port)
    assert c.get("support_events_duplicate_total", 0) == \
        len(union) - len(unique) + agent_dups, c
    assert c.get("support_events_late_dropped_total", 0) == 0, c
    assert c.get("support_events_rejected_total", 0) == 0, c
    # each vendor's last moment of a conversation that started: its rows are there
    started = {e["conversation_id"] for e in union if e["type"] in ("ticket.created",
                                                                     "chat.started")}
    last: dict[str, str] = {}
    for e in union:
        if e["conversation_id"] in started:
            vendor = e["conversation_id"].split(":")[0]
            last[vendor] = max(last.get(vendor, ""), e["occurred_at"])
    assert len(last) == 4, last
    floor.agrees_with_oracle(sorted(
        dt.datetime.fromisoformat(t.replace("Z", "+00:00")).timestamp() + 1
        for t in last.values()))
